"""Build the "Weizmann horses as a masked testA" source from the real photographs beside the project.

    .venv/bin/python benchmarks/weizmann_source.py DEST [--zip] [--train N] [--test-b N]

DEST gets horse2zebra's trainA/ trainB/ testB/ (../shared/data/horse2zebra) and the 278 Weizmann
horses as testA/ with their masks in testA_mask/ (../shared/data/weizmann_horses), the layout
`spagan prepare` reads; with --zip, also DEST.zip (top folder DEST's name, as horse2zebra.zip is).
`--train N` / `--test-b N` keep the first N images (sorted) of those splits, for small runs.
A horse2zebra model evaluated on the prepared folder reports the attention ROC AUC of D_A on real
horses; prepare's leakage report lists the Weizmann horses that are also in trainA.

From Python (tests, studies): ``weizmann_source(dest, per_split={"trainA": 20})``.
"""

import argparse
import zipfile
from pathlib import Path

from spagan.data.masked_source import build_masked_source

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HORSE2ZEBRA = SHARED_DATA / "horse2zebra"
WEIZMANN = SHARED_DATA / "weizmann_horses"


def weizmann_source(
    dest: Path, *, per_split: dict[str, int] | None = None, names: dict[str, list[str]] | None = None,
    shared_data: Path = SHARED_DATA,
) -> Path:
    """horse2zebra train + testB and the Weizmann horses as masked testA, written to `dest`."""
    return build_masked_source(dest, benchmark=shared_data / "horse2zebra",
                               masked_images=shared_data / "weizmann_horses" / "images",
                               masks=shared_data / "weizmann_horses" / "masks", masked_split="testA",
                               per_split=per_split, names=names)


def zip_source(folder: Path, zip_path: Path) -> Path:
    """`folder`'s files in a zip under a top folder of its name (stored: JPEGs do not compress)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return zip_path


def main() -> None:
    """Build the folder (and the zip) from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--zip", action="store_true", help="also write DEST.zip")
    parser.add_argument("--train", type=int, default=None, help="first N images of trainA and trainB")
    parser.add_argument("--test-b", type=int, default=None, help="first N images of testB")
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    limits = {k: v for k, v in {"trainA": args.train, "trainB": args.train, "testB": args.test_b}.items()
              if v is not None}
    dest = weizmann_source(args.dest, per_split=limits, shared_data=args.shared_data)
    counts = {s: len(list((dest / s).iterdir())) for s in ("trainA", "trainB", "testA", "testA_mask", "testB")}
    print(f"{dest}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if args.zip:
        print(zip_source(dest, dest.with_suffix(".zip")))


if __name__ == "__main__":
    main()
