"""horse2zebra models on real masks: the Weizmann horses as a masked testA (issue 29, item 5).

For each model, `spagan evaluate`'s own function on the Weizmann horses (270: prepare drops eight
copies of the set itself and reports three horses that are also in trainA; 198-400 px, scaled so
the longer side is the model's train.image_size, masks following exactly) reports, a2b:

  attention ROC AUC of D_A on real horses, and the share of its mass inside the horse;
  the change the translation makes inside the horse and outside it ([0, 1] scale) and their ratio;

beside the rows a model that knows nothing about horses scores: maps (uniform: AUC 0.5; a centre
prior), outputs (the input returned unchanged: 0 and 0; the constant output of
spagan.evaluation.baselines: a change everywhere), and two do-nothing models run through the same
evaluation: the first model with constant generators (its D_A, so its attention, unchanged) and
the same networks untrained (random initialisation, seed 0: what D_A's map is before training).

    .venv/bin/python benchmarks/weizmann_masks.py --work /tmp/h2z_masks/bench \
        --model spagan_d1=RUN_OR_CHECKPOINT [--model cyclegan_d1=...] [--train spagan_d1 ...] \
        --json benchmarks/results/weizmann_masks.json

--train NAME trains a model of TRAINED (on horse2zebra's full training split, prepared into
WORK/h2z) into WORK/runs/NAME unless it has finished there. The evaluation folder holds the
prepared testA/ testA_mask/ testB/ only (hard links): the whole-image and object domain
classifiers fitted on trainA/ trainB/ are not what this benchmark reads, and cost minutes each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.weizmann_source import HORSE2ZEBRA, weizmann_source  # noqa: E402
from spagan.core.fileio import atomic_write_bytes  # noqa: E402

SPAGAN = ROOT / ".venv" / "bin" / "spagan"
# The paper's SPA-GAN pinned (tests/conftest.py PAPER_OVERRIDES) at 64 px with the paper's geometry
# at 64 px (one PatchGAN layer: SPEC section 1), the demo's generator size, 1500 steps.
PAPER = ["model.attention=true", "model.attention_features=post_act", "model.attention_blend=false",
         "model.attention_detach=true", "model.attention_interp=bilinear", "train.lambda_fm=1.0",
         "train.fm_pairing=identity"]
SHORT = ["model.ngf=16", "model.n_blocks=4", "train.image_size=64", "train.load_size=72", "train.max_steps=1500",
         "train.eval_every=0", "watch.preview_every=0", "watch.tensorboard=false", "watch.log_every=50"]
TRAINED = {
    "spagan_d1": [*PAPER, *SHORT, "model.n_layers_d=1"],
    "spagan_d3": [*PAPER, *SHORT, "model.n_layers_d=3"],
    "cyclegan_d1": [*PAPER, *SHORT, "model.n_layers_d=1", "model.attention=false", "train.lambda_fm=0"],
}
EVAL_FOLDERS = ("testA", "testA_mask", "testB")


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def eval_folder(work: Path) -> Path:
    """WORK/weizmann_eval: testA (Weizmann) + testA_mask + testB of the prepared masked source."""
    prepared = work / "weizmann" / "prepared"
    if not prepared.is_dir():
        weizmann_source(work / "weizmann_src")
        run([str(SPAGAN), "prepare", "--source", str(work / "weizmann_src"), "--out", str(work / "weizmann"),
             "--params", str(ROOT / "params.yaml")])
    view = work / "weizmann_eval"
    if not view.is_dir():
        for folder in EVAL_FOLDERS:
            shutil.copytree(prepared / folder, view / folder, copy_function=os.link)
    return view


def train(work: Path, name: str) -> Path:
    """WORK/runs/NAME trained as TRAINED[name] on horse2zebra's training split, unless finished."""
    out = work / "runs" / name
    if (out / "model.safetensors").is_file() or (out / "metrics.json").is_file():
        return out
    if not (work / "h2z" / "prepared").is_dir():
        run([str(SPAGAN), "prepare", "--source", str(HORSE2ZEBRA), "--out", str(work / "h2z"),
             "--params", str(ROOT / "params.yaml")])
    cmd = [str(SPAGAN), "train", "--params", str(ROOT / "params.yaml"), "--data", str(work / "h2z" / "prepared"),
           "--out", str(out), "--resume", "auto"]
    for override in TRAINED[name]:
        cmd += ["--set", override]
    run(cmd)
    return out


def snapshot(src: Path, dest: Path) -> Path:
    """A copy of the model file behind `src` (a run's checkpoint may be rewritten while we read it)."""
    from spagan.models.checkpoint import model_file

    path = model_file(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest.with_suffix(path.suffix))
    return dest.with_suffix(path.suffix)


def untrained_like(src: Path, dest: Path) -> Path:
    """The networks of `src`'s config at their initialisation (seed 0), as a checkpoint."""
    import torch

    from spagan.config import config_from_dict
    from spagan.models import build_networks
    from spagan.models.checkpoint import load_model_state, save_checkpoint

    config = load_model_state(src)["config"]
    torch.manual_seed(0)
    nets = build_networks(config_from_dict(config).model)
    save_checkpoint({"networks": nets.state_dicts(), "config": config, "step": 0}, dest)
    return dest


def cached_evaluation(out: Path, ckpt: Path) -> dict[str, Any] | None:
    """out/metrics.json when it holds an evaluation of exactly `ckpt` (same sha256), else None."""
    from spagan.core.fileio import file_sha256

    path = out / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text(encoding="utf-8"))
    return metrics if metrics["checkpoint"]["sha256"] == file_sha256(ckpt) else None


def model_row(name: str, kind: str, ckpt: Path, metrics: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """One model's numbers (a2b: the Weizmann horses -> zebras)."""
    from spagan.models.checkpoint import load_model_state

    state = load_model_state(ckpt)
    model, block = state["config"]["model"], metrics["a2b"]["real_masks"]
    change = block["change"]["translation"]
    return {"row": name, "kind": kind, "steps": int(state.get("step", 0)), "attention": model["attention"],
            "n_layers_d": model["n_layers_d"], "ngf": model["ngf"], "n_blocks": model["n_blocks"],
            "image_size": state["config"]["train"]["image_size"], "n_images": block["n_images"],
            "attention_auc": block["attention"]["attention"]["auc"],
            "attention_in_mask": block["attention"]["attention"]["in_mask"],
            "change_inside": change["inside"], "change_outside": change["outside"], "change_ratio": change["ratio"],
            "checkpoint_sha256": metrics["checkpoint"]["sha256"],
            "eval_seconds": None if seconds is None else round(seconds, 1)}  # None: an earlier run's


def reference_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The maps and outputs that know nothing about horses (they do not depend on the model)."""
    block, rows = metrics["a2b"]["real_masks"], []
    for name in ("uniform", "centre_prior"):
        rows.append({"row": f"{name} map", "kind": "reference map", "attention_auc": block["attention"][name]["auc"],
                     "attention_in_mask": block["attention"][name]["in_mask"]})
    for name in ("input_as_output", "constant_as_output"):
        c = block["change"][name]
        rows.append({"row": name, "kind": "reference output", "change_inside": c["inside"],
                     "change_outside": c["outside"], "change_ratio": c["ratio"]})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown, one line per row."""
    cols = ("steps", "attention_auc", "attention_in_mask", "change_inside", "change_outside", "change_ratio")

    def fmt(v: Any) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    lines = ["| row | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    lines += [f"| {r['row']} | " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="work folder (outside the repo)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                   help="a trained model (run folder, checkpoint.pt or model.safetensors) to evaluate")
    p.add_argument("--train", action="append", default=[], choices=sorted(TRAINED),
                   help="train this model into WORK/runs/NAME first (unless finished there)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", type=Path, default=None, help="write every row here")
    args = p.parse_args(argv)
    import torch

    from spagan.config import load_config
    from spagan.evaluation.baselines import write_constant_checkpoint
    from spagan.evaluation.evaluate import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.work.resolve()
    data = eval_folder(work)
    models = [(n, Path(s)) for n, s in (m.split("=", 1) for m in args.model)]
    models += [(name, train(work, name)) for name in args.train]
    if not models:
        p.error("name at least one --model or --train")
    eval_cfg = load_config(ROOT / "params.yaml", ["eval.gallery_size=8", "eval.download_weights=false"]).eval
    rows, first = [], None
    snapshots = [(name, "trained", snapshot(src, work / "models" / name)) for name, src in models]
    first_ckpt = snapshots[0][2]
    snapshots.append((f"constant generators ({snapshots[0][0]})", "do-nothing model",
                      write_constant_checkpoint(first_ckpt, work / "models" / "constant.pt")))
    snapshots.append((f"untrained ({snapshots[0][0]} networks, seed 0)", "do-nothing model",
                      untrained_like(first_ckpt, work / "models" / "untrained.pt")))
    for name, kind, ckpt in snapshots:
        t0 = time.perf_counter()
        out = work / "eval" / name.split(" ")[0]
        cached = cached_evaluation(out, ckpt)  # a rerun computes only what changed
        metrics = cached or evaluate(eval_cfg, ckpt, data, out, device="cpu")
        row = model_row(name, kind, ckpt, metrics, None if cached else time.perf_counter() - t0)
        if not row["attention"]:
            # CycleGAN translates x itself, so evaluate's map is all ones (AUC 0.5); its D_A still has a
            # map: an evaluation with --post-hoc-blend computes it (its translation is not used here).
            post = work / "eval" / f"{name.split(' ')[0]}_post_hoc"
            d_a = (cached_evaluation(post, ckpt)
                   or evaluate(eval_cfg, ckpt, data, post, device="cpu", post_hoc_blend=True))["a2b"]["real_masks"]
            row.update(attention_auc=d_a["attention"]["attention"]["auc"],
                       attention_in_mask=d_a["attention"]["attention"]["in_mask"],
                       attention_from="D_A (an evaluation with post_hoc_blend; evaluate's own map is all ones)")
        rows.append(row)
        first = first or metrics
        print(f"{name}: gallery {out / 'gallery' / 'a2b.png'}", flush=True)
    rows += reference_rows(first)
    print(table(rows))
    if args.json:
        result = {"date": date.today().isoformat(), "data": str(data), "n_images": first["a2b"]["n_masks"],
                  "direction": "a2b (Weizmann horses -> zebras)", "load_average": os.getloadavg(),
                  "threads": torch.get_num_threads(), "command": " ".join(sys.argv), "rows": rows}
        atomic_write_bytes(args.json, (json.dumps(result, indent=2) + "\n").encode())
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
