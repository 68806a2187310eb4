"""horse2zebra through `spagan prepare`, as users download it: time, peak memory, and what it finds.

    .venv/bin/python benchmarks/h2z_prepare.py [--work /tmp/h2z] [--workers N] [--json PATH]

1. Zips ../shared/data/horse2zebra as horse2zebra.zip is distributed (top folder horse2zebra/)
   into --work (outside the repository: the photographs are never copied into it).
2. Runs `spagan prepare --source ZIP` with data.dedupe=report and =drop, each under
   /usr/bin/time -v: wall time and peak resident memory of the whole command (ingest, dedupe,
   validate), then the three steps timed one by one in this process (report mode).
3. Lists with the files named what ingest (greyscale files, quarantine), exact and near dedupe
   (at the shipped data.phash_threshold) and train/test leakage found, and what each mode kept
   per split (report must keep exactly 1,067 / 1,334 / 120 / 140).
4. Does the same for the Weizmann horses as a masked testA beside horse2zebra's train and testB
   (benchmarks/weizmann_source.py): masks kept, copies of itself and leaks into trainA.

5. With --dagster: the same zip in data/raw of a project copy (tests/dvc_project.py), `dvc add`,
   data.source and data.dedupe: report in its params, and the Dagster data assets materialized
   in process (they run `dvc repro prepare`): the wall time of the whole Dagster run.

Writes benchmarks/results/h2z_prepare.json (or --json). Timings depend on the machine's load:
record it with the numbers.
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


from spagan.config import load_config
from spagan.data.prepare import dedupe_step, ingest_step, validate_step
from spagan.data.schema import DUPLICATE_COLUMNS, MANIFEST_COLUMNS, QUARANTINE_COLUMNS, read_table

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
OFFICIAL = {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed_prepare(source: Path, out: Path, mode: str, workers: int | None) -> dict:
    """`spagan prepare` under /usr/bin/time -v: wall seconds, peak RSS (MiB), its stdout/stderr."""
    cmd = [str(ROOT / ".venv/bin/spagan"), "prepare", "--source", str(source), "--out", str(out),
           "--params", str(ROOT / "params.yaml"), "--set", f"data.dedupe={mode}"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"spagan prepare failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = {k: float(m.group(1)) for k in ("User", "System")
           if (m := re.search(rf"{k} time \(seconds\): ([\d.]+)", done.stderr))}
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(int(rss.group(1)) / 1024, 1) if rss else None,
            "cpu_user_s": cpu.get("User"), "cpu_system_s": cpu.get("System"),
            "stdout": done.stdout.strip().splitlines(),
            "warnings": [ln for ln in done.stderr.splitlines() if "WARNING" in ln]}


def step_times(source: Path, out: Path, workers: int | None) -> dict:
    """Seconds of ingest, dedupe and validate run one by one in this process (report mode)."""
    cfg = load_config(ROOT / "params.yaml", ["data.dedupe=report"]).data
    times = {}
    for name, step in (("ingest", lambda: ingest_step(source, out, cfg, workers=workers)),
                       ("dedupe", lambda: dedupe_step(out, cfg)), ("validate", lambda: validate_step(out, cfg))):
        start = time.perf_counter()
        step()
        times[name] = round(time.perf_counter() - start, 2)
    return times


def findings(out: Path) -> dict:
    """What the preparation under `out` found, with the files named."""
    ingested = read_table(out / "ingested/manifest.csv", MANIFEST_COLUMNS)
    quarantine = read_table(out / "quarantine.csv", QUARANTINE_COLUMNS)
    dups = read_table(out / "duplicates.csv", DUPLICATE_COLUMNS)
    summary = json.loads((out / "summary.json").read_text())
    sha = dict(zip(ingested["path"], ingested["sha256"]))
    pairs = {}
    for kind, group in dups.groupby("kind", sort=True):
        pairs[kind] = [{"path": p, "duplicate_of": d, "distance": int(n), "byte_identical": sha[p] == sha[d],
                        "kept": k} for p, d, n, k in zip(group["path"], group["duplicate_of"], group["distance"],
                                                         group["kept"])]
    not_rgb = ingested[ingested["orig_mode"] != "RGB"]
    sizes = ingested.groupby(["width", "height"]).size()
    return {
        "ingested": len(ingested),
        "quarantined": [{"file": f, "reason": r, "detail": d}
                        for f, r, d in zip(quarantine["source_path"], quarantine["reason"], quarantine["detail"])],
        "converted_to_rgb": [{"file": f, "mode": m, "format": fmt} for f, m, fmt in
                             zip(not_rgb["source_path"], not_rgb["orig_mode"], not_rgb["orig_format"])],
        "formats": {str(k): int(v) for k, v in ingested["orig_format"].value_counts().items()},
        "sizes": {f"{w}x{h}": int(n) for (w, h), n in sizes.items()} if len(sizes) <= 5 else
        {"distinct": int(len(sizes)), "min_side": int(ingested[["width", "height"]].min().min()),
         "max_side": int(ingested[["width", "height"]].max().max())},
        "with_masks": int((ingested["mask_path"] != "").sum()),
        "duplicates": pairs,
        "splits": summary["splits"],
        "warnings": summary["warnings"],
    }


def dagster_run(h2z_zip: Path, work: Path) -> dict:
    """Seconds of a Dagster run of the data assets (and their checks) on `h2z_zip` in a project copy."""
    import shutil

    import dagster as dg

    sys.path.insert(0, str(ROOT))
    from orchestration.assets.data import prepared_data
    from orchestration.checks import data_checks
    from orchestration.dvc_resource import DvcCli
    from orchestration.resources import DataPaths
    from tests.dvc_project import dvc, git, make_project, set_params

    parent = work / "dagster"
    shutil.rmtree(parent, ignore_errors=True)
    parent.mkdir(parents=True)
    repo = make_project(parent)
    shutil.copyfile(h2z_zip, repo / "data/raw/horse2zebra.zip")
    dvc(repo, "add", "data/raw/horse2zebra.zip")
    set_params(repo, {"data": {"source": "data/raw/horse2zebra.zip", "dedupe": "report"}})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "horse2zebra")
    checks = [data_checks.manifest_schema_valid, data_checks.no_train_test_leakage,
              data_checks.domains_balanced, data_checks.quarantine_fraction]
    resources = {"data_paths": DataPaths(root=str(repo / "data"), params=str(repo / "params.yaml")),
                 "dvc": DvcCli(repo=str(repo))}
    start = time.perf_counter()
    result = dg.materialize([prepared_data, *checks], resources=resources, raise_on_error=False)
    wall = time.perf_counter() - start
    dedup = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    meta = dedup["deduplicated_images"].metadata if "deduplicated_images" in dedup else {}
    return {"success": result.success, "wall_s": round(wall, 2),
            "checks": {e.check_name: {"passed": e.passed, "severity": e.severity.value}
                       for e in result.get_asset_check_evaluations()},
            "source_vs_kept": {r.data["split"]: {"source": r.data["source"], "kept": r.data["kept"]}
                               for r in meta["source_vs_kept"].value.records} if meta else None}


def main() -> None:
    """Run everything and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/h2z"), help="folder for the zips and outputs")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/h2z_prepare.json")
    parser.add_argument("--skip-weizmann", action="store_true")
    parser.add_argument("--dagster", action="store_true", help="also time the Dagster data assets on the zip")
    args = parser.parse_args()
    if not (SHARED_DATA / "horse2zebra").is_dir():
        raise SystemExit(f"{SHARED_DATA / 'horse2zebra'}: not found (see ../shared/data/README.md)")
    work = args.work.resolve()
    if ROOT in (work, *work.parents):
        raise SystemExit(f"{work}: must lie outside the repository (the photographs are never copied into it)")
    work.mkdir(parents=True, exist_ok=True)
    h2z_zip = _load("weizmann_source").zip_source(SHARED_DATA / "horse2zebra", work / "horse2zebra.zip")
    cfg = load_config(ROOT / "params.yaml").data
    result = {"machine": {"cores": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
              "phash_threshold": cfg.phash_threshold, "source": str(h2z_zip),
              "zip_bytes": h2z_zip.stat().st_size, "modes": {}}
    for mode in ("report", "drop"):
        run = timed_prepare(h2z_zip, work / f"out_{mode}", mode, args.workers)
        found = findings(work / f"out_{mode}")
        kept = {name: c["kept"] for name, c in found["splits"].items()}
        result["modes"][mode] = {**run, "kept": kept, "official_split_exact": kept == OFFICIAL, "findings": found}
        print(f"{mode}: {run['wall_s']} s wall ({run['cpu_user_s']} s user CPU), peak RSS {run['peak_rss_mib']} MiB, "
              f"kept {kept}", flush=True)
    result["steps_report_s"] = step_times(h2z_zip, work / "out_steps", args.workers)
    print(f"steps (report): {result['steps_report_s']}", flush=True)
    if not args.skip_weizmann:
        ws = _load("weizmann_source")
        folder = ws.weizmann_source(work / "weizmann")
        run = timed_prepare(folder, work / "out_weizmann", "report", args.workers)
        result["weizmann_as_testA"] = {**run, "findings": findings(work / "out_weizmann")}
        print(f"weizmann: {run['wall_s']} s, peak RSS {run['peak_rss_mib']} MiB", flush=True)
    if args.dagster:
        result["dagster_data_assets"] = dagster_run(h2z_zip, work)
        print(f"dagster: {result['dagster_data_assets']}", flush=True)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(args.json)


if __name__ == "__main__":
    sys.exit(main())
