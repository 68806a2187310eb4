"""`spagan prepare`: ingest, deduplicate and validate a CycleGAN-layout source (or the demo)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spagan.config import load_config
from spagan.data.prepare import prepare
from spagan.data.schema import ManifestValidationError
from spagan.errors import SpaganError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `prepare` subcommand."""
    p = subparsers.add_parser(
        "prepare", help="ingest, deduplicate and validate two image domains",
        description="Ingest a trainA/trainB/testA/testB folder or .zip (or generate the demo domains), "
        "quarantine bad files, drop duplicates and train/test leakage, validate the manifest.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--source", type=Path, help="CycleGAN-layout folder or .zip (never modified)")
    src.add_argument("--demo", action="store_true", help="generate the demo domains (data.demo_* params)")
    p.add_argument("--out", type=Path, required=True, help="output folder (prepared/, manifest.csv, reports)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a param, e.g. data.phash_threshold=4 (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="processes for decoding (default: all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chain and print a one-screen summary; 2 (with the report) when validation fails."""
    cfg = load_config(args.params if args.params.is_file() or args.params != Path("params.yaml") else None,
                      args.overrides).data
    try:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="file", desc="ingest", disable=not sys.stderr.isatty(), leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        outcome = prepare(None if args.demo else args.source, args.out, cfg, workers=args.workers,
                          progress=progress)
        bar.close()
    except ManifestValidationError as exc:
        print(exc.report, file=sys.stderr)
        print(f"spagan prepare: error: manifest invalid; report in {args.out / 'validation_report.txt'}",
              file=sys.stderr)
        return 2
    except SpaganError:
        raise
    print(format_summary(outcome.summary, args.out))
    return 0


def format_summary(summary: dict, out: Path) -> str:
    """The one-screen summary printed after a successful run."""
    c = summary["counts"]
    lines = [
        f"prepared {summary['images']} images in {out / 'prepared'}",
        "            train  test",
        f"  domain A  {c['trainA']:5d} {c['testA']:5d}",
        f"  domain B  {c['trainB']:5d} {c['testB']:5d}",
        f"quarantined {summary['quarantined']}: "
        + (", ".join(f"{k} {v}" for k, v in summary["quarantine_reasons"].items()) or "none")
        + f"  ({out / 'quarantine.csv'})",
        "duplicates dropped: " + (", ".join(f"{k} {v}" for k, v in summary["duplicates"].items()) or "none")
        + f"  ({out / 'duplicates.csv'})",
        f"manifest: {out / 'manifest.csv'}",
        f"data version: {summary['data_version']} (raw source {summary['raw_version']})",
    ]
    return "\n".join(lines)
