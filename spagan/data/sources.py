"""List the files of a CycleGAN-layout source (a folder or a .zip) without modifying it.

A source holds ``trainA/ trainB/ testA/ testB/`` somewhere below its root (``horse2zebra/trainA``
inside a downloaded zip is fine), images possibly in sub-folders. Files that belong to an image
live beside the split folders with the same relative names (``.png``): ground-truth masks in
``trainA_mask/`` etc., counterparts (the same scene in the other domain) in ``testA_pair/`` etc.
They are recorded on the listing (`masks`, `pairs`), never listed as dataset items.
Problems that can be seen while listing (symlinks leaving the source, zip members escaping the
target, unreadable files) are recorded on the item, never raised: the caller quarantines them.
"""

from __future__ import annotations

import logging
import os
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path

from spagan.core.errors import SpaganError
from spagan.core.image_formats import IMAGE_EXTS

log = logging.getLogger(__name__)

SPLIT_DIRS = {"traina": ("train", "A"), "trainb": ("train", "B"), "testa": ("test", "A"), "testb": ("test", "B")}
# Folders beside a split folder, named <split> + suffix, holding files that belong to its images
# rather than images of the domain: suffix -> the SourceListing field that records them.
COMPANION_SUFFIXES = {"_mask": "masks", "_pair": "pairs"}
# Folders made by archivers that never hold data (macOS resource forks).
_SKIP_DIRS = frozenset({"__macosx"})


@dataclass(frozen=True)
class SourceItem:
    """One file of the source that belongs to the dataset (or should have, and is quarantined)."""

    source_path: str  # posix path relative to the source root (the member name in a zip)
    split: str  # train | test | "" when the file lies outside the layout
    domain: str  # A | B | ""
    rel: str  # posix path below the split folder ("" outside the layout)
    size: int  # bytes as listed (0 when unknown)
    problem: str = ""  # quarantine reason found while listing ("" = none)
    detail: str = ""


@dataclass(frozen=True)
class SourceListing:
    """Everything found in a source: dataset items, their masks and counterparts, ignored files.

    `masks` and `pairs` map `companion_key` of an item to the source_path of its file.
    """

    kind: str  # folder | zip
    root: Path
    items: list[SourceItem]
    masks: dict[tuple[str, str, str], str]  # ground-truth masks (``<split>_mask/``)
    pairs: dict[tuple[str, str, str], str]  # counterparts in the other domain (``<split>_pair/``)
    ignored: list[str]  # non-image files outside the layout (README, .DS_Store, ...)


def companion_key(split: str, domain: str, rel: str) -> tuple[str, str, str]:
    """(split, domain, rel without extension): how a mask or counterpart is matched to its image,
    whose extension may differ (``testA/a.jpg`` has ``testA_mask/a.png``)."""
    return split, domain, posixpath.splitext(rel)[0]


def _split_folder(name: str) -> tuple[str, str, str] | None:
    """(split, domain, companion field) a folder name stands for: ("test", "A", "") for ``testA``,
    ("test", "A", "masks") for ``testA_mask``; None for any other folder."""
    low = name.lower()
    if low in SPLIT_DIRS:
        return (*SPLIT_DIRS[low], "")
    for suffix, field in COMPANION_SUFFIXES.items():
        if low.endswith(suffix) and low[: -len(suffix)] in SPLIT_DIRS:
            return (*SPLIT_DIRS[low[: -len(suffix)]], field)
    return None


def _classify(parts: list[str]) -> tuple[str, str, str, str, str]:
    """Return (prefix, split, domain, rel, companion) for a path split into components; companion
    is "" for a dataset file, else the listing field that records it (see COMPANION_SUFFIXES)."""
    for i, part in enumerate(parts[:-1]):
        found = _split_folder(part)
        if found is not None:
            split, domain, companion = found
            return "/".join(parts[:i]), split, domain, "/".join(parts[i + 1 :]), companion
    return "", "", "", "", ""


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Collector:
    """Sorts listed paths into items, companions and ignored files; checks for a single dataset root."""

    def __init__(self) -> None:
        self.items: list[SourceItem] = []
        self.companions: dict[str, dict[tuple[str, str, str], str]] = {f: {} for f in COMPANION_SUFFIXES.values()}
        self.ignored: list[str] = []
        self.prefixes: set[str] = set()

    def add(self, rel_path: str, size: int, problem: str = "", detail: str = "", as_path: str = "") -> None:
        """Record `rel_path`, classified by `as_path` (its normalised form) when given."""
        parts = (as_path or rel_path).split("/")
        if any(p.lower() in _SKIP_DIRS for p in parts) or parts[-1].startswith("."):
            self.ignored.append(rel_path)
            return
        prefix, split, domain, rel, companion = _classify(parts)
        ext = posixpath.splitext(parts[-1])[1].lower()
        if not split:
            if problem:
                self.items.append(SourceItem(rel_path, "", "", "", size, problem, detail))
            elif ext in IMAGE_EXTS:
                self.items.append(
                    SourceItem(rel_path, "", "", "", size, "outside_layout", "not under trainA/trainB/testA/testB")
                )
            else:
                self.ignored.append(rel_path)
            return
        if not problem:
            self.prefixes.add(prefix)
        if companion and not problem:  # a companion with a problem is quarantined like an image
            self.companions[companion][companion_key(split, domain, rel)] = rel_path
            return
        if not problem and ext not in IMAGE_EXTS:
            problem, detail = "unsupported_extension", f"extension {ext or '(none)'!r} is not an image type"
        self.items.append(SourceItem(rel_path, split, domain, rel, size, problem, detail))

    def finish(self, kind: str, root: Path) -> SourceListing:
        if len(self.prefixes) > 1:
            roots = ", ".join(repr(p or ".") for p in sorted(self.prefixes))
            raise SpaganError(f"{root}: more than one dataset root holds trainA/trainB/testA/testB: {roots}")
        self.items.sort(key=lambda it: it.source_path)
        self.ignored.sort()
        for path in self.ignored:
            log.debug("ignored (not part of the layout): %s", path)
        return SourceListing(kind, root, self.items, ignored=self.ignored, **self.companions)


def _list_folder(root: Path) -> SourceListing:
    col = _Collector()
    real_root = os.path.realpath(root)

    def on_error(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "?"
        col.add(rel + "/", 0, "unreadable", f"cannot list folder: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        dirnames.sort()
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                rel = Path(full).relative_to(root).as_posix()
                target = os.path.realpath(full)
                if not _within(target, real_root):
                    col.add(rel + "/", 0, "symlink_outside_source", f"folder link to {target}")
                else:
                    log.debug("not following folder link inside the source: %s", rel)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = Path(full).relative_to(root).as_posix()
            problem = detail = ""
            size = 0
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not _within(target, real_root):
                    problem, detail = "symlink_outside_source", f"link to {target}"
                elif not os.path.exists(target):
                    problem, detail = "unreadable", f"dangling link to {target}"
            if not problem:
                try:
                    size = os.stat(full).st_size
                except OSError as exc:
                    problem, detail = "unreadable", f"cannot stat: {exc.strerror}"
            if not problem and not os.access(full, os.R_OK):
                problem, detail = "unreadable", "no read permission"
            col.add(rel, size, problem, detail)
    return col.finish("folder", root)


def zip_member_escapes(name: str) -> bool:
    """True when extracting member `name` would write outside the target folder (zip-slip)."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return True
    return posixpath.normpath(norm).split("/")[0] == ".."


def _list_zip(path: Path) -> SourceListing:
    col = _Collector()
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SpaganError(f"{path}: not a readable zip file ({exc})") from None
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename
        if zip_member_escapes(name):
            # Classify by its components so the report shows the split it pretended to be in.
            col.add(name, info.file_size, "zip_slip", f"member path {name!r} escapes the extraction folder",
                    as_path=name.replace("\\", "/").lstrip("/"))
            continue
        norm = posixpath.normpath(name.replace("\\", "/"))
        problem = detail = ""
        if info.flag_bits & 0x1:
            problem, detail = "unreadable", "encrypted zip member"
        col.add(name, info.file_size, problem, detail, as_path=norm)
    return col.finish("zip", path)


def list_source(path: str | Path) -> SourceListing:
    """List a CycleGAN-layout folder or .zip. Raises SpaganError if it is missing or has no layout."""
    p = Path(path)
    if not p.exists():
        raise SpaganError(f"{p}: source not found")
    if p.is_dir():
        listing = _list_folder(p)
    elif zipfile.is_zipfile(p):
        listing = _list_zip(p)
    else:
        raise SpaganError(f"{p}: source must be a folder or a .zip file")
    if not any(it.split for it in listing.items):
        raise SpaganError(f"{p}: no trainA/ trainB/ testA/ testB/ folders with files found")
    return listing
