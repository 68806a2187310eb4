"""Check, normalise and hash one source file (runs in worker processes: light imports only).

A file that is already a training image (an upright RGB JPEG or PNG without transparency or
animation) is copied byte for byte: decoding the copy gives exactly the normalised pixels,
and re-encoding would only cost time (PNG) or quality (JPEG). Every other usable file is
normalised (spagan.data.normalise) and written as PNG. Nothing here raises for a bad file.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile

import imagehash
from PIL import Image, UnidentifiedImageError

from spagan.data.normalise import SUPPORTED_MODES, to_rgb
from spagan.data.sources import SourceItem

QUARANTINE_REASONS = {
    "empty_file": "zero bytes",
    "corrupt": "truncated or corrupt image data",
    "not_an_image": "content is not an image despite the extension",
    "decompression_bomb": "more pixels than data.max_pixels",
    "too_small": "a side shorter than data.min_size",
    "unsupported_mode": "pixel mode with no normalisation rule",
    "symlink_outside_source": "symbolic link pointing outside the source",
    "zip_slip": "zip member whose path escapes the extraction folder",
    "unreadable": "cannot be read (permissions, dangling link, encrypted)",
    "unsupported_extension": "file in a split folder without an image extension",
    "outside_layout": "image not under trainA/trainB/testA/testB",
    "mask_size_mismatch": "ground-truth mask whose size differs from its image's (it would not be aligned)",
}
PNG_COMPRESS_LEVEL = 1  # prepared PNGs are written once and read often: favour encode speed over size
_COPY_AS_IS = {"JPEG": ".jpg", "PNG": ".png"}  # formats kept byte for byte when already normalised
_EXIF_ORIENTATION = 0x0112

_ZIPS: dict[str, zipfile.ZipFile] = {}  # per-process cache: each worker opens a zip once


def read_source(kind: str, root: str, source_path: str) -> bytes:
    """Bytes of one file of a folder or zip source (opened read-only)."""
    if kind == "zip":
        zf = _ZIPS.get(root)
        if zf is None:
            zf = _ZIPS[root] = zipfile.ZipFile(root)
        return zf.read(source_path)
    with open(os.path.join(root, source_path), "rb") as fh:
        return fh.read()


def _quarantine(item: SourceItem, reason: str, detail: str, size: int = 0, sha: str = "") -> dict:
    return {
        "source_path": item.source_path, "split": item.split, "domain": item.domain, "reason": reason,
        "detail": detail or QUARANTINE_REASONS[reason], "bytes": size or item.size, "sha256": sha,
    }


def _already_normal(im: Image.Image) -> bool:
    return (
        im.format in _COPY_AS_IS and im.mode == "RGB" and "transparency" not in im.info
        and getattr(im, "n_frames", 1) == 1 and im.getexif().get(_EXIF_ORIENTATION, 1) == 1
    )


def process_item(
    kind: str, root: str, item: SourceItem, out_stem: str, *, min_size: int, max_pixels: int
) -> tuple[str, dict]:
    """Check, normalise and hash one file; write it to `out_stem` + ``.png`` (or ``.jpg`` if copied).

    Returns ("ok", manifest row without mask_path and pair_path; ``path`` is the written file) or
    ("quarantine", quarantine row).
    """
    if item.problem:
        return "quarantine", _quarantine(item, item.problem, item.detail)
    try:
        data = read_source(kind, root, item.source_path)
    except PermissionError as exc:
        return "quarantine", _quarantine(item, "unreadable", f"permission denied: {exc.strerror}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        return "quarantine", _quarantine(item, "corrupt", f"zip member unreadable: {exc}")
    except (OSError, RuntimeError) as exc:
        return "quarantine", _quarantine(item, "unreadable", str(exc))
    if not data:
        return "quarantine", _quarantine(item, "empty_file", "", 0)
    sha = hashlib.sha256(data).hexdigest()

    def bad(reason: str, detail: str = "") -> tuple[str, dict]:
        return "quarantine", _quarantine(item, reason, detail, len(data), sha)

    with warnings.catch_warnings():
        # Our own max_pixels check below decides; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return bad("not_an_image")
        except Image.DecompressionBombError as exc:
            return bad("decompression_bomb", str(exc))
        except (OSError, SyntaxError, ValueError) as exc:
            return bad("corrupt", f"header unreadable: {exc}")
        w, h = im.size
        if w * h > max_pixels:
            return bad("decompression_bomb", f"{w}x{h} = {w * h} pixels > max_pixels {max_pixels}")
        if min(w, h) < min_size:
            return bad("too_small", f"{w}x{h} is smaller than min_size {min_size}")
        if im.mode not in SUPPORTED_MODES:
            return bad("unsupported_mode", f"mode {im.mode} has no normalisation rule")
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            return bad("corrupt", str(exc))
        orig_mode, orig_format = im.mode, im.format or ""
        copy_as_is = _already_normal(im)
        try:
            rgb = im if copy_as_is else to_rgb(im)
        except (OSError, ValueError) as exc:
            return bad("corrupt", f"cannot convert to RGB: {exc}")
    # Orientation may have swapped the sides: check the displayed size again.
    if min(rgb.size) < min_size:
        return bad("too_small", f"{rgb.size[0]}x{rgb.size[1]} is smaller than min_size {min_size}")
    phash = str(imagehash.phash(rgb))
    if copy_as_is:
        out_file = out_stem + _COPY_AS_IS[orig_format]
        with open(out_file, "wb") as fh:
            fh.write(data)
    else:
        out_file = out_stem + ".png"
        rgb.save(out_file, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    row = {
        "path": os.path.basename(out_file), "source_path": item.source_path, "domain": item.domain,
        "split": item.split, "width": rgb.size[0], "height": rgb.size[1], "orig_mode": orig_mode,
        "orig_format": orig_format, "bytes": len(data), "sha256": sha, "phash": phash,
    }
    return "ok", row


def process_star(args: tuple) -> tuple[str, dict]:
    """process_item over one argument tuple (for executor.map)."""
    kind, root, item, out_stem, min_size, max_pixels = args
    return process_item(kind, root, item, out_stem, min_size=min_size, max_pixels=max_pixels)
