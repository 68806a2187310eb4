"""Fetch a weights file once, as torchvision does, and use it only if its sha256 is the expected one.

torch.hub's `download_url_to_file` does the transfer (a progress bar on stderr, a temp file
moved into place only when complete); the full sha256 is checked here before the file gets
its final name, so a tampered or truncated download is never loaded and never left behind.
"""

import logging
import os
import urllib.error
from pathlib import Path

import torch

from spagan.core.errors import SpaganError
from spagan.core.fileio import file_sha256

log = logging.getLogger(__name__)

OFFLINE_VAR = "SPAGAN_OFFLINE"  # set to 1 to forbid downloads (the test suite sets it)


class DownloadError(SpaganError):
    """The file could not be fetched (network, server) or was not the expected one."""


def downloads_allowed() -> bool:
    """False when $SPAGAN_OFFLINE is set to anything but '', 0 or false."""
    return os.environ.get(OFFLINE_VAR, "").strip().lower() in ("", "0", "false")


def download_verified(url: str, dst: Path, sha256: str, *, progress: bool = True) -> Path:
    """Download `url` to `dst` (folders created) and check its full sha256 before it is used.

    Raises DownloadError if the transfer fails or the digest differs; in the second case the
    downloaded bytes are deleted and the message says so.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(f".{dst.name}.{os.getpid()}.download")
    log.info("downloading %s to %s", url, dst)
    try:
        torch.hub.download_url_to_file(url, str(part), hash_prefix=None, progress=progress)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"could not download {url} ({reason})") from None
    got = file_sha256(part)
    if got != sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"downloaded {url} has sha256 {got}, expected {sha256}: refused and removed")
    os.replace(part, dst)
    return dst
