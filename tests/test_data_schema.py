"""The pandera manifest schema: valid manifests pass, failures are all reported, readably."""

import pandas as pd
import pytest

from spagan.data.schema import MANIFEST_COLUMNS, ManifestValidationError, read_table, validate_manifest


def _row(i: int, split: str, domain: str, **kw) -> dict:
    row = {
        "path": f"{split}{domain}/img{i}.png", "source_path": f"{split}{domain}/img{i}.jpg", "domain": domain,
        "split": split, "width": 64, "height": 64, "orig_mode": "RGB", "orig_format": "JPEG", "bytes": 1000 + i,
        "sha256": f"{i:064x}", "phash": f"{i:016x}", "mask_path": "", "pair_path": "",
    }
    row.update(kw)
    return row


def _manifest(n: int = 2) -> pd.DataFrame:
    rows = [_row(i * 4 + k, s, d) for i in range(n) for k, (s, d) in
            enumerate([("train", "A"), ("train", "B"), ("test", "A"), ("test", "B")])]
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def test_valid_manifest_passes_and_round_trips(tmp_path):
    df = _manifest()
    out = validate_manifest(df, min_size=32, min_images_per_split=2)
    assert len(out) == 8
    df.to_csv(tmp_path / "m.csv", index=False)
    back = read_table(tmp_path / "m.csv", MANIFEST_COLUMNS)
    pd.testing.assert_frame_equal(back, df)  # all-digit hashes stay strings


def test_all_failures_are_reported_with_offending_rows():
    df = _manifest()
    df.loc[0, "domain"] = "C"
    df.loc[1, "sha256"] = "not-a-hash"
    df.loc[2, "width"] = 10
    df.loc[3, "sha256"] = df.loc[4, "sha256"]
    with pytest.raises(ManifestValidationError) as info:
        validate_manifest(df, min_size=32, min_images_per_split=2)
    report = info.value.report
    assert "column 'domain' fails isin" in report and "trainA/img0.png" in report
    assert "column 'sha256' fails str_matches" in report and "not-a-hash" in report
    assert "smaller than data.min_size=32" in report and "testA/img2.png" in report
    assert "field_uniqueness" in report
    assert "images per domain and split" in report
    assert len(info.value.failure_cases) >= 5


def test_missing_domain_and_too_few_images():
    df = _manifest(n=3)
    df = df[~((df["domain"] == "B") & (df["split"] == "test"))].reset_index(drop=True)
    with pytest.raises(ManifestValidationError, match="min_images_per_split=4") as info:
        validate_manifest(df, min_size=32, min_images_per_split=4)
    assert "B           3     0" in info.value.report  # the counts table shows the empty testB
