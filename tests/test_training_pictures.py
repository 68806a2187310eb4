"""The training picture (losses and evaluation curve), and what the Dagster UI records of a
training: observations while it runs, the pictures and the published choice once published."""

import json
from pathlib import Path

import dagster as dg
import numpy as np
from PIL import Image

from orchestration.assets.training_pictures import TrainingObserver, model_pictures
from spagan.lineage.record import published_choice
from spagan.core.chart import PALETTE, Panel, line_chart
from spagan.lineage.curves import training_picture

RED = PALETTE[3]


def _colour_pixels(image: Image.Image, colour: tuple[int, int, int]) -> int:
    return int((np.asarray(image.convert("RGB")) == np.array(colour, dtype=np.uint8)).all(-1).sum())


def _write_run(folder: Path, steps: int, evals: list[tuple[int, float]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"step": s, "epoch": 0, "total_steps": steps, "lr": 2e-4, "G": 10 - s / steps, "G_gan": 1.0,
             "cycle": 0.5, "identity": 0.4, "fm": 0.3, "D_A": 0.2, "D_B": 0.25} for s in range(1, steps + 1)]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if evals is not None:
        lines = ["step,epoch,seconds,object_translation,a2b_object_translation,b2a_object_translation"]
        lines += [f"{s},0,0.5,{v},{v - 0.1},{v + 0.1}" for s, v in evals]
        (folder / "eval_curve.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_a_series_is_drawn_in_its_colour_and_missing_points_are_skipped() -> None:
    empty = line_chart([Panel("nothing", {"x": ([1, 2], [None, float("nan")])})])
    drawn = line_chart([Panel("four", {"a": ([1], [0]), "b": ([1], [0]), "c": ([1], [0]),
                                       "d": ([1, 2, 3], [1.0, None, 3.0])})])
    assert empty.size == drawn.size == (720, 200)
    assert _colour_pixels(empty, RED) == 0
    assert _colour_pixels(drawn, RED) > 30  # two dots and the legend's line


def test_training_picture_has_a_panel_per_curve(tmp_path: Path) -> None:
    assert training_picture(tmp_path) is None  # nothing logged yet
    run = _write_run(tmp_path / "run", 700)
    assert training_picture(run).size == (720, 600)  # G, G's terms, the discriminators
    _write_run(run, 700, [(100, 0.2), (200, 0.4)])
    assert training_picture(run).size == (720, 800)  # and the evaluation curve


def test_published_choice_names_the_checkpoint_and_why() -> None:
    best = {"model": {"steps": 80, "total_steps": 80},
            "selection": {"published": "best", "step": 40, "select_by": "object_translation", "select_mode": "max",
                          "score": 0.61234, "evaluations": 4}}
    assert published_choice(best) == ("best: step 40 of 80, object_translation 0.6123 (max of 4 evaluations "
                                      "during training; train.publish=best)")
    assert published_choice({"model": {"steps": 80}}) == "last: step 80 (train.publish=last)"


def test_model_pictures_show_curves_preview_and_tensorboard(tmp_path: Path) -> None:
    model = _write_run(tmp_path / "models" / "spagan", 20, [(10, 0.3), (20, 0.5)])
    Image.new("RGB", (40, 20), (255, 0, 0)).save(model / "preview.png")
    (tmp_path / "runs" / "train" / "tensorboard").mkdir(parents=True)
    meta = model_pictures(tmp_path, model, {"params": {"train": {"select_by": "object_translation"}},
                                            "model": {"steps": 20}})
    assert meta["training_curves"].value.startswith("![training curves](data:image/png;base64,")
    assert "data:image/png;base64," in meta["latest_preview"].value
    assert meta["tensorboard"].value.endswith("runs/train/tensorboard")


def test_the_observer_records_the_run_as_it_trains(tmp_path: Path) -> None:
    """In a real Dagster run: an observation when the run has steps, none while nothing moved,
    another when a preview appears, a text-only one when only steps moved."""
    run = _write_run(tmp_path / "runs" / "train", 5)
    key = dg.AssetKey("trained_model")

    @dg.asset(key=key)
    def watched(context: dg.AssetExecutionContext) -> None:
        observe = TrainingObserver(context, key, tmp_path, "object_translation", observe_every_s=3600)
        observe()
        observe()  # nothing moved: no second observation
        (run / "previews").mkdir()
        Image.new("RGB", (8, 8)).save(run / "previews" / "step_000005.png")
        observe()
        _write_run(run, 6)  # one more step, no new picture
        observe()  # within observe_every_s: nothing
        observe.every = 0
        observe()

    result = dg.materialize([watched])
    observations = [e.event_specific_data.asset_observation for e in result.all_events
                    if e.event_type_value == "ASSET_OBSERVATION"]
    assert len(observations) == 3
    first, second, third = (o.metadata for o in observations)
    assert first["training_step"].value == "5 of 5" and "latest_preview" not in first
    assert "step_000005.png" in second["latest_preview"].value
    assert second["training_curves"].value.startswith("![training curves](data:image/png;base64,")
    assert third["training_step"].value == "6 of 6" and "training_curves" not in third


def test_the_evaluation_panel_falls_back_to_a_scored_measure(tmp_path: Path) -> None:
    """Own images without masks: object translation is never scored, the panel shows the first
    watched measure that was instead of an empty plot."""
    run = _write_run(tmp_path / "run", 50)
    (run / "eval_curve.csv").write_text("step,epoch,seconds,object_translation,success_share,a2b_success_share,"
                                        "b2a_success_share\n10,0,0.1,,0.5,0.4,0.6\n20,0,0.1,,0.7,0.6,0.8\n")
    picture = training_picture(run, "object_translation")
    evaluation_panel = picture.crop((0, 600, 720, 800))
    assert _colour_pixels(evaluation_panel, PALETTE[1]) > 30  # a2b's line and dots
