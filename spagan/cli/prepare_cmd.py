"""`spagan prepare`: ingest, deduplicate and validate a CycleGAN-layout source (or the demo).

The source is `data.source` in params.yaml ("" = the demo domains), a path relative to the
params file's folder; `--source` / `--demo` override it for a one-off run outside the pipeline.
The DVC `prepare` stage passes `--raw-dir data/raw`: the folder it hashes, which the source must
lie in so that the raw bytes are part of every model's lineage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spagan.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `prepare` subcommand."""
    p = subparsers.add_parser(
        "prepare", help="ingest, deduplicate and validate two image domains",
        description="Ingest a trainA/trainB/testA/testB folder or .zip (or generate the demo domains), "
        "quarantine bad files, list duplicates and train/test leakage (dropped with data.dedupe: drop, "
        "kept with report), validate the manifest.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--source", type=Path, help="CycleGAN-layout folder or .zip (never modified); "
                     "default: data.source in the params file")
    src.add_argument("--demo", action="store_true", help="generate the demo domains (data.demo_* params), "
                     "whatever data.source says")
    p.add_argument("--out", type=Path, required=True, help="output folder (prepared/, manifest.csv, reports)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default params.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a param, e.g. data.phash_threshold=4 (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="processes for decoding (default: all cores)")
    p.add_argument("--raw-dir", type=Path, default=None,
                   help="require data.source to lie inside this folder, relative to the params file's folder "
                        "(the DVC stage passes the folder it hashes, data/raw)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chain and print a one-screen summary; 2 (with the report) when validation fails."""
    # Imported here: pandas and pandera cost a second that `spagan --help` should not pay.
    from spagan.data.prepare import prepare, resolve_source
    from spagan.data.schema import ManifestValidationError
    from spagan.lineage.dvcfiles import dvc_tracked

    cfg = load_config(args.params, args.overrides).data
    if args.demo:
        source = None
    elif args.source is not None:
        source = args.source
    else:
        source = resolve_source(cfg, args.params.parent, within=args.raw_dir)
        if source is not None and args.raw_dir is not None and not dvc_tracked(source):
            print(f"spagan prepare: note: {cfg.source} is not tracked by DVC, so `dvc push` will not store it; "
                  f"run `scripts/dvc add {cfg.source}` and commit the .dvc file", file=sys.stderr)
    bar = None
    try:
        from tqdm import tqdm
        bar = tqdm(total=0, unit="file", desc="ingest", disable=not sys.stderr.isatty(), leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        outcome = prepare(source, args.out, cfg, workers=args.workers, progress=progress,
                          label=None if args.source is not None else cfg.source)
    except ManifestValidationError as exc:
        print(exc.report, file=sys.stderr)
        print(f"spagan prepare: error: manifest invalid; report in {args.out / 'validation_report.txt'}",
              file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(outcome.summary, args.out))
    return 0


def format_summary(summary: dict, out: Path) -> str:
    """The one-screen summary printed after a successful run: kept images per split with the
    source's count beside them, and a loud warning for every test split that lost images."""
    c, splits = summary["counts"], summary.get("splits") or {}

    def cell(name: str) -> str:
        source = (splits.get(name) or {}).get("source", c[name])
        return f"{c[name]:5d} of {source:5d}"

    listed = ", ".join(f"{k} {v}" for k, v in summary["duplicates"].items()) or "none"
    mode = summary.get("dedupe", "drop")
    lines = [
        f"prepared {summary['images']} images in {out / 'prepared'} (kept of the source's)",
        "                  train           test",
        f"  domain A  {cell('trainA')}  {cell('testA')}",
        f"  domain B  {cell('trainB')}  {cell('testB')}",
        f"quarantined {summary['quarantined']}: "
        + (", ".join(f"{k} {v}" for k, v in summary["quarantine_reasons"].items()) or "none")
        + f"  ({out / 'quarantine.csv'})",
        ("duplicates dropped: " if mode == "drop" else "duplicates listed, all kept (data.dedupe=report): ")
        + listed + f"  ({out / 'duplicates.csv'})",
        f"manifest: {out / 'manifest.csv'}",
        f"data version: {summary['data_version']} (raw source {summary['raw_version']})",
        f"source: {(summary.get('source') or {}).get('path') or 'demo domains'} "
        f"(md5 {(summary.get('source') or {}).get('md5') or '-'})",
    ]
    lines += [f"WARNING: test split changed: {w}" for w in summary.get("warnings", [])]
    lines += [f"note: {name}: {n['quarantined']} file(s) beside its {n['source']} images are unusable (quarantine.csv)"
              for name, n in splits.items() if name.startswith("test") and n["quarantined"]]
    return "\n".join(lines)
