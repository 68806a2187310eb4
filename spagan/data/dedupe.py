"""Exact and near-duplicate detection, within a split and across train/test (leakage).

Near duplicates are pairs whose 64-bit perceptual hashes differ in at most `threshold` bits.
The search is indexed by the pigeonhole principle: split the 64 bits into threshold+1 blocks;
two hashes within the threshold agree exactly on at least one block, so only hashes sharing a
block value are compared (vectorised numpy over sorted runs, never a Python double loop).

Which copy is kept is deterministic: test images first (the test set stays fixed), then the
most pixels, then the smallest prepared path. An image is listed when it is a duplicate of an
image ranked before it and not itself listed; a train image near a test image is listed as
``leakage``. With ``drop`` (data.dedupe: drop) the listed images are left out of the kept rows;
without it every row is kept and the list is only a report (the same list either way, so a
benchmark kept whole shows exactly what drop mode would have removed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spagan.data.schema import DROPPED, DUPLICATE_COLUMNS, KEPT

_BYTE_POPCOUNT = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits per element of a uint64 array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x).astype(np.int64)
    return _BYTE_POPCOUNT[x.view(np.uint8).reshape(-1, 8)].sum(axis=1).astype(np.int64)


def hashes_to_uint64(hexes: pd.Series | list[str]) -> np.ndarray:
    """16-hex-digit perceptual hashes -> uint64 array."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def _blocks(threshold: int) -> list[tuple[int, int]]:
    """(shift, width) of threshold+1 nearly equal bit blocks covering 64 bits."""
    n = min(threshold + 1, 64)
    widths = [64 // n + (1 if i < 64 % n else 0) for i in range(n)]
    out, shift = [], 0
    for w in widths:
        out.append((shift, w))
        shift += w
    return out


def near_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i < j) with Hamming distance <= threshold; returns (i, j, distance) arrays."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    if n < 2 or threshold < 0:
        return empty
    found_i, found_j = [], []
    for shift, width in _blocks(threshold):
        mask = np.uint64((1 << width) - 1)
        keys = (hashes >> np.uint64(shift)) & mask
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        lengths = np.diff(np.r_[starts, n])
        run_end = np.repeat(starts + lengths, lengths)  # exclusive end of each position's run
        active = np.flatnonzero(run_end - np.arange(n) > 1)
        k = 1
        while active.size:  # compare every position with the one k places later in its run
            a, b = order[active], order[active + k]
            close = popcount64(hashes[a] ^ hashes[b]) <= threshold
            if close.any():
                found_i.append(np.minimum(a[close], b[close]))
                found_j.append(np.maximum(a[close], b[close]))
            k += 1
            active = active[run_end[active] - active > k]
    if not found_i:
        return empty
    pair_key = np.unique(np.concatenate(found_i).astype(np.int64) * n + np.concatenate(found_j))
    i, j = pair_key // n, pair_key % n
    return i, j, popcount64(hashes[i] ^ hashes[j])


@dataclass(frozen=True)
class DedupeResult:
    """`kept`: manifest rows to use; `duplicates`: listed rows with kind, the copy they duplicate
    and whether they are among the kept rows (column ``kept``)."""

    kept: pd.DataFrame
    duplicates: pd.DataFrame


def _dedupe_domain(df: pd.DataFrame, threshold: int) -> list[dict]:
    """Duplicate rows of one domain (df has a fresh RangeIndex)."""
    pixels = (df["width"] * df["height"]).to_numpy()
    rank_order = np.lexsort((df["path"].to_numpy(), -pixels, (df["split"] != "test").to_numpy()))
    rank = np.empty(len(df), np.int64)
    rank[rank_order] = np.arange(len(df))
    i, j, dist = near_pairs(hashes_to_uint64(df["phash"]), threshold)
    sha = df["sha256"].to_numpy()
    # Byte-identical files always have the same phash, but be explicit about exact copies.
    neighbours: dict[int, list[tuple[int, int]]] = {}
    for a, b, d in zip(i.tolist(), j.tolist(), dist.tolist()):
        neighbours.setdefault(a, []).append((b, d))
        neighbours.setdefault(b, []).append((a, d))
    is_test = (df["split"] == "test").to_numpy()
    dropped: set[int] = set()
    out = []
    for node in sorted(neighbours, key=lambda x: rank[x]):
        nbrs = neighbours[node]
        if not is_test[node]:
            tests = [(d, rank[m], m) for m, d in nbrs if is_test[m]]
            if tests:
                d, _, m = min(tests)
                dropped.add(node)
                out.append((node, "leakage", m, d))
                continue
        earlier = [(0 if sha[m] == sha[node] else d, rank[m], m) for m, d in nbrs
                   if rank[m] < rank[node] and m not in dropped]
        if earlier:
            d, _, m = min(earlier)
            dropped.add(node)
            out.append((node, "exact" if sha[m] == sha[node] else "near", m, d))
    rows = []
    for node, kind, keeper, d in out:
        rows.append({
            "path": df.at[node, "path"], "source_path": df.at[node, "source_path"],
            "domain": df.at[node, "domain"], "split": df.at[node, "split"], "kind": kind,
            "duplicate_of": df.at[keeper, "path"], "duplicate_of_split": df.at[keeper, "split"],
            "distance": int(d),
        })
    return rows


def find_duplicates(manifest: pd.DataFrame, threshold: int, *, drop: bool = True) -> DedupeResult:
    """List the duplicates of `manifest` (per domain; see module docstring); the kept rows leave
    them out when `drop`, else they are every row of `manifest`."""
    rows: list[dict] = []
    for _, group in manifest.groupby("domain", sort=True):
        rows.extend(_dedupe_domain(group.reset_index(drop=True), threshold))
    for row in rows:
        row["kept"] = DROPPED if drop else KEPT
    dups = pd.DataFrame(rows, columns=DUPLICATE_COLUMNS).sort_values("path", ignore_index=True)
    kept = manifest[~manifest["path"].isin(set(dups["path"]))] if drop else manifest
    return DedupeResult(kept.reset_index(drop=True), dups)


def leakage_pairs(manifest: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Train/test pairs of the same domain within `threshold` bits (empty when there is no leakage)."""
    rows = []
    for domain, group in manifest.groupby("domain", sort=True):
        group = group.reset_index(drop=True)
        i, j, dist = near_pairs(hashes_to_uint64(group["phash"]), threshold)
        split = group["split"].to_numpy()
        cross = split[i] != split[j]
        for a, b, d in zip(i[cross].tolist(), j[cross].tolist(), dist[cross].tolist()):
            train, test = (a, b) if split[a] == "train" else (b, a)
            rows.append({"domain": domain, "train_path": group.at[train, "path"],
                         "test_path": group.at[test, "path"], "distance": d})
    return pd.DataFrame(rows, columns=["domain", "train_path", "test_path", "distance"])
