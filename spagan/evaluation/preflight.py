"""Would this evaluation start? What `spagan evaluate` needs, checked before it writes anything.

Evaluation scores both directions in turn, so a missing testB/ used to surface only after a2b
was computed and written. `spagan evaluate --dry-run` prints this plan and exits 0 only when a
real evaluation would start; a real one makes the same check first. Read-only.
"""

from dataclasses import dataclass
from pathlib import Path

from spagan.config import ConfigError, config_from_stored
from spagan.core.device import pick_device
from spagan.core.errors import SpaganError
from spagan.core.imageio import list_images
from spagan.models.checkpoint import load_model_state, model_file


@dataclass(frozen=True)
class EvalPlan:
    """What an evaluation will read and where it will write."""

    checkpoint: Path
    steps: int  # training steps the checkpoint holds
    image_size: int  # test images are resized to the training crop size
    counts: dict[str, int]  # test images per domain (and train images, used by the domain classifier)
    device: str
    out_dir: Path


def plan_evaluation(checkpoint: str | Path, data_dir: str | Path, out_dir: str | Path, *,
                    device: str = "auto") -> EvalPlan:
    """Check the data folder (testA/ and testB/ with images), the checkpoint (readable, a valid
    stored config) and the device; SpaganError naming the first problem."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise SpaganError(f"{data_dir}: data folder not found")
    counts = {}
    for split in ("testA", "testB", "trainA", "trainB"):
        folder = data_dir / split
        if split.startswith("test") and not folder.is_dir():
            raise SpaganError(f"{folder}: folder not found (evaluation translates testA/ and testB/)")
        if folder.is_dir():
            counts[split] = len(list_images(folder))
        if split.startswith("test") and not counts[split]:
            raise SpaganError(f"{folder}: no test images")
    dev = pick_device(device)
    path = model_file(checkpoint)  # the file a folder names: model.safetensors or checkpoint.pt
    state = load_model_state(path)  # missing or unreadable: one line naming the file
    try:
        cfg = config_from_stored(state["config"])
    except ConfigError as exc:
        raise SpaganError(f"{path}: stored config is invalid: {exc}") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise SpaganError(f"{out_dir}: output folder is a file")
    return EvalPlan(checkpoint=path, steps=int(state.get("step", 0)),
                    image_size=cfg.train.image_size, counts=counts, device=str(dev), out_dir=out_dir)


def format_eval_plan(plan: EvalPlan) -> str:
    """The plan as a few aligned lines."""
    c = plan.counts
    train = (f"; trainA {c['trainA']}, trainB {c['trainB']} for the domain classifier"
             if "trainA" in c and "trainB" in c else "; no trainA/ trainB/: translation success not scored")
    rows = [("checkpoint", f"{plan.checkpoint} (step {plan.steps}, {plan.image_size} px)"),
            ("data", f"testA {c['testA']}, testB {c['testB']} images{train}"),
            ("device", plan.device),
            ("output", f"{plan.out_dir}: metrics.json, gallery/a2b.png, gallery/b2a.png")]
    return "\n".join(f"{k:<11}{v}" for k, v in rows)
