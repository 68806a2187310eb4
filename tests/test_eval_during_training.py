"""Evaluation during training: the curve, the best checkpoint, resume, weights left alone, and the
slice it scores (held out of training, never the test split)."""

import json
from pathlib import Path

import pytest
import torch

from spagan.config import ConfigError, load_config
from spagan.data.demo import generate_demo
from spagan.evaluation.training_eval import TrainingEvaluator, flat_scores
from spagan.models.checkpoint import load_checkpoint
from spagan.training.loop import train
from spagan.training.selection import BEST_NAME, BEST_RECORD_NAME, EVAL_CURVE_NAME, read_curve
from tests.conftest import ROOT, TINY_OVERRIDES

# 9 images per domain, the last 3 held out: 6 trained on, batch 1: 6 steps per epoch; 2 + 1 epochs;
# an evaluation every epoch.
WATCHED = [*TINY_OVERRIDES, "train.epochs=2", "train.epochs_decay=1", "train.eval_every=1", "train.eval_images=3"]


@pytest.fixture(scope="module")
def masked_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo domains in miniature: masks and counterparts, so object translation is scored."""
    return generate_demo(tmp_path_factory.mktemp("demo"), size=32, train_per_domain=9, test_per_domain=3,
                         planted_duplicates=0, planted_broken=0).root


def _cfg(*extra: str):
    return load_config(ROOT / "params.yaml", [*WATCHED, *extra])


def _digest(run: Path) -> str:
    return json.loads((run / "metrics.json").read_text())["weights_digest_per_rank"][0]


def _curve(run: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_curve(run / EVAL_CURVE_NAME)]


@pytest.fixture(scope="module")
def watched_run(masked_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = _cfg()
    out = tmp_path_factory.mktemp("watched")
    train(cfg, masked_data, out, device="cpu", evaluator=TrainingEvaluator(cfg, masked_data, device="cpu"))
    return out


def test_one_row_per_evaluation_and_the_best_checkpoint_is_the_best_row(watched_run: Path) -> None:
    rows = read_curve(watched_run / EVAL_CURVE_NAME)
    assert [r["step"] for r in rows] == [6, 12, 18]  # every epoch's end; the last is the last step
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert all(r["object_translation"] is not None and r["a2b_attention_auc"] is not None for r in rows)
    best_row = max(rows, key=lambda r: r["object_translation"])
    record = json.loads((watched_run / BEST_RECORD_NAME).read_text())
    assert record["step"] == best_row["step"] and record["score"] == pytest.approx(best_row["object_translation"])
    best = load_checkpoint(watched_run / BEST_NAME)
    assert best["step"] == best_row["step"] and set(best) == {"networks", "config", "step", "selection"}
    assert json.loads((watched_run / "metrics.json").read_text())["best"] == record
    # best.pt holds the weights of its step: equal to the final ones only when the best is the last row
    last = load_checkpoint(watched_run / "checkpoint.pt")
    same = all(torch.equal(best["networks"]["G"][k], v) for k, v in last["networks"]["G"].items())
    assert same == (best_row["step"] == 18)


def test_evaluation_never_changes_the_weights(watched_run: Path, masked_data: Path, tmp_path: Path) -> None:
    train(_cfg(), masked_data, tmp_path / "plain", device="cpu")  # the same slice held out, no evaluator
    assert _digest(tmp_path / "plain") == _digest(watched_run)
    assert not (tmp_path / "plain" / EVAL_CURVE_NAME).exists()


def test_kid_during_training_where_weights_are_on_disk_and_lower_is_better(masked_data: Path, watched_run: Path,
                                                                          tmp_path: Path) -> None:
    """With Inception weights on disk (random ones, made here), every evaluation has KID, and
    select_by=kid_x100 keeps the lowest; the other measures are those of the same run without."""
    from torchvision.models.inception import Inception3

    torch.manual_seed(0)
    weights = tmp_path / "inception.pth"
    torch.save(Inception3(aux_logits=False, init_weights=False).state_dict(), weights)
    cfg = _cfg("train.select_by=kid_x100", f"eval.inception_weights={weights}")  # lower is better
    out = tmp_path / "run"
    train(cfg, masked_data, out, device="cpu",
          evaluator=TrainingEvaluator(cfg, masked_data, device="cpu", cache_dir=tmp_path / "cache"))
    rows = read_curve(out / EVAL_CURVE_NAME)
    assert all(r["kid_x100"] is not None and r["a2b_kid_x100"] is not None for r in rows)
    no_kid = lambda curve: [{k: v for k, v in r.items() if "kid" not in k} for r in curve]
    assert no_kid(_curve(out)) == no_kid(_curve(watched_run))  # the same run, scored the same
    assert json.loads((out / BEST_RECORD_NAME).read_text())["step"] == min(rows, key=lambda r: r["kid_x100"])["step"]


def test_a_stopped_run_resumes_with_its_curve_and_best(masked_data: Path, watched_run: Path, tmp_path: Path) -> None:
    """Stopped at step 12 (an evaluation step: the stop skips it), resumed: step 12 is evaluated
    first, and the curve, best and weights equal the uninterrupted run's."""
    cfg = _cfg()
    evaluator = TrainingEvaluator(cfg, masked_data, device="cpu")
    steps = []
    first = train(cfg, masked_data, tmp_path, device="cpu", evaluator=evaluator,
                  on_progress=lambda info: steps.append(info["step"]), should_stop=lambda: len(steps) >= 11)
    assert first.steps == 12 and not first.finished
    assert [r["step"] for r in read_curve(tmp_path / EVAL_CURVE_NAME)] == [6]
    train(cfg, masked_data, tmp_path, device="cpu", evaluator=evaluator, resume=True)
    assert _curve(tmp_path) == _curve(watched_run)
    assert json.loads((tmp_path / BEST_RECORD_NAME).read_text()) == json.loads(
        (watched_run / BEST_RECORD_NAME).read_text())
    assert _digest(tmp_path) == _digest(watched_run)


def test_a_fresh_run_drops_an_earlier_curve_and_best(masked_data: Path, watched_run: Path, tmp_path: Path) -> None:
    (tmp_path / EVAL_CURVE_NAME).write_text((watched_run / EVAL_CURVE_NAME).read_text())
    (tmp_path / BEST_RECORD_NAME).write_text('{"step": 3, "select_by": "object_translation", "select_mode": "max", '
                                             '"score": 99}')
    cfg = _cfg("train.max_steps=6")
    train(cfg, masked_data, tmp_path, device="cpu", evaluator=TrainingEvaluator(cfg, masked_data, device="cpu"))
    assert [r["step"] for r in read_curve(tmp_path / EVAL_CURVE_NAME)] == [6]
    assert json.loads((tmp_path / BEST_RECORD_NAME).read_text())["score"] != 99


def test_flat_scores_average_both_directions_or_none() -> None:
    flat = flat_scores({"a2b": {"object_translation": 0.2, "kid_x100": {"mean": 3.0}, "attention_auc": None},
                        "b2a": {"object_translation": 0.6, "kid_x100": {"status": "unavailable"},
                                "attention_auc": 0.7}})
    assert flat["object_translation"] == pytest.approx(0.4)
    assert flat["a2b_kid_x100"] == 3.0 and flat["b2a_kid_x100"] is None and flat["kid_x100"] is None
    assert flat["attention_auc"] is None and flat["b2a_attention_auc"] == 0.7


@pytest.mark.parametrize("overrides, message", [
    (["train.publish=best", "train.eval_every=0"], "train.publish"),
    (["train.select_by=loss"], "must be one of object_translation"),
    (["train.eval_images=1"], "train.eval_images"),
])
def test_bad_selection_settings_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "params.yaml", overrides)


def test_evaluation_during_training_never_reads_the_test_split(masked_data: Path, watched_run: Path,
                                                               tmp_path: Path) -> None:
    """Without testA/ testB/ (and their masks and counterparts) the first evaluation is the same as
    the watched run's (the same weights at step 6): nothing of the test split was read."""
    import shutil

    train_only = tmp_path / "train_only"
    for split in ("trainA", "trainB", "trainA_mask", "trainB_mask"):
        shutil.copytree(masked_data / split, train_only / split)
    cfg = _cfg("train.max_steps=6")
    train(cfg, train_only, tmp_path / "run", device="cpu", evaluator=TrainingEvaluator(cfg, train_only, device="cpu"))
    assert _curve(tmp_path / "run") == _curve(watched_run)[:1] and _curve(watched_run)[0]["object_translation"]
    assert (tmp_path / "run" / BEST_NAME).is_file()


def test_the_dataset_never_yields_a_held_out_image(masked_data: Path, tmp_path: Path) -> None:
    """The held-out files are made unreadable: training without an evaluator still runs (it never
    opens them); with train.eval_split=train (nothing held out) the same files stop it."""
    import shutil

    from spagan.core.errors import SpaganError
    from spagan.training.holdout import run_slice

    data = tmp_path / "data"
    shutil.copytree(masked_data, data)
    held = run_slice(_cfg().train, data)
    assert [p.name for p in held.eval_a] == sorted(p.name for p in (data / "trainA").iterdir())[-3:]
    assert not set(held.eval_a) & set(held.train_a) and len(held.train_a) == 6
    for path in held.eval_a + held.eval_b:
        path.write_bytes(b"not an image")
    result = train(_cfg("train.max_steps=6"), data, tmp_path / "run", device="cpu")
    assert result.steps == 6  # an epoch over the 6 A images trained on; the held-out files never opened
    with pytest.raises(SpaganError, match="cannot read image"):  # an epoch walks all 9 A images
        train(_cfg("train.max_steps=9", "train.eval_split=train"), data, tmp_path / "run2", device="cpu")


def test_best_is_chosen_on_the_recorded_slice(watched_run: Path, masked_data: Path) -> None:
    record = json.loads((watched_run / BEST_RECORD_NAME).read_text())["selected_on"]
    scored = json.loads((watched_run / "metrics.json").read_text())["eval_slice"]
    last3 = lambda d: [f"train{d}/{p.name}" for p in sorted((masked_data / f"train{d}").iterdir())[-3:]]
    assert scored["files"] == {"A": last3("A"), "B": last3("B")} and scored["trained_on"] == {"A": 6, "B": 6}
    assert record == {"split": "holdout", "held_out_of_training": True, "images_per_domain": 3,
                      "files_sha256": scored["files_sha256"]}


def test_eval_split_train_trains_on_everything(masked_data: Path, tmp_path: Path) -> None:
    """train.eval_split=train holds nothing out: the same weights as a run without evaluation."""
    train(_cfg("train.max_steps=3", "train.eval_split=train"), masked_data, tmp_path / "scored", device="cpu")
    train(_cfg("train.max_steps=3", "train.eval_every=0"), masked_data, tmp_path / "plain", device="cpu")
    assert _digest(tmp_path / "scored") == _digest(tmp_path / "plain")
    evaluator = TrainingEvaluator(_cfg("train.eval_split=train"), masked_data, device="cpu")
    first3 = [f"trainA/{p.name}" for p in sorted((masked_data / "trainA").iterdir())[:3]]
    assert evaluator.record()["files"]["A"] == first3 and not evaluator.record()["held_out_of_training"]


def test_too_few_training_images_to_hold_out_is_refused(masked_data: Path) -> None:
    from spagan.core.errors import SpaganError
    from spagan.training.holdout import run_slice

    with pytest.raises(SpaganError, match="9 images, but train.eval_images=9 are held out.*train.eval_split=train"):
        run_slice(_cfg("train.eval_images=9").train, masked_data)


def _publish(run: Path, tmp_path: Path, *overrides: str) -> dict:
    from spagan.lineage.record import publish_run

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,domain\n")
    cfg = _cfg(*overrides)
    (run / "config.yaml").write_text(__import__("yaml").safe_dump(cfg.to_dict()))  # the run's config = these params
    return publish_run(cfg, run, tmp_path / "model", data_dir=run, manifest=manifest, repo=tmp_path)


def test_publish_best_publishes_best_pt_and_says_why(watched_run: Path, tmp_path: Path) -> None:
    from spagan.models.weights import load_weights

    lineage = _publish(watched_run, tmp_path, "train.publish=best")
    record = json.loads((watched_run / BEST_RECORD_NAME).read_text())
    sel = lineage["selection"]
    assert sel["published"] == "best" and sel["step"] == record["step"] and sel["evaluations"] == 3
    assert lineage["model"]["steps"] == record["step"] and lineage["model"]["trained_steps"] == 18
    published = load_weights(tmp_path / "model" / "model.safetensors")
    best = load_checkpoint(watched_run / BEST_NAME)
    assert all(torch.equal(published["networks"]["F"][k], v) for k, v in best["networks"]["F"].items())
    assert (tmp_path / "model" / EVAL_CURVE_NAME).read_text() == (watched_run / EVAL_CURVE_NAME).read_text()


def test_publish_last_names_the_best_for_information(watched_run: Path, tmp_path: Path) -> None:
    lineage = _publish(watched_run, tmp_path, "train.publish=last")
    sel = lineage["selection"]
    assert sel["published"] == "last" and sel["why"] == "train.publish=last" and lineage["model"]["steps"] == 18
    assert sel["best"]["step"] == json.loads((watched_run / BEST_RECORD_NAME).read_text())["step"]
    # the newest preview grid is published beside the weights (params.yaml previews the last step)
    newest = watched_run / "previews" / "step_000018.png"
    assert (tmp_path / "model" / "preview.png").read_bytes() == newest.read_bytes()


def test_publish_best_without_a_scored_evaluation_falls_back_to_last(watched_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(watched_run, run)
    lineage = _publish(run, tmp_path, "train.publish=best", "train.select_by=kid_x100")  # no KID offline
    assert lineage["selection"]["published"] == "last"
    assert "no evaluation during training scored kid_x100" in lineage["selection"]["why"]


def test_the_plan_names_what_is_watched_and_what_is_held_out(masked_data: Path, tmp_path: Path) -> None:
    import shutil

    from spagan.training.preflight import format_plan, plan_training

    plan = format_plan(plan_training(_cfg("train.publish=best"), masked_data, tmp_path / "run", device="cpu"))
    assert ("evaluation every 1 epochs (6 steps) on the last 3 training images per domain, held out of training, "
            "best by max object_translation; publishes the best checkpoint") in plan
    assert "trainA 6, trainB 6 images trained on, 3 + 3 held out for evaluation during training" in plan
    train_only = tmp_path / "train_only"
    for split in ("trainA", "trainB"):
        shutil.copytree(masked_data / split, train_only / split)
    plan_training(_cfg(), train_only, tmp_path / "run2", device="cpu")  # no test split needed


def test_every_selectable_measure_ranks_a_do_nothing_model_below_the_counterpart(masked_data: Path) -> None:
    """Selecting by a measure in its better direction never prefers the input returned unchanged
    over the real counterpart (the reference rows of the same scoring code)."""
    from spagan.config.rules import SELECTABLE
    from spagan.evaluation.evaluate import direction_scores

    evaluator = TrainingEvaluator(_cfg(), masked_data, device="cpu")
    checked = []
    for d in ("a2b", "b2a"):
        refs = direction_scores(d, evaluator.translator, masked_data, evaluator.cfg.eval,
                                evaluator.scorers)["references"]  # the test split: it has counterparts
        for measure, better in SELECTABLE.items():
            nothing, ideal = (flat_scores({d: refs[row]})[f"{d}_{measure}"]
                              for row in ("input_as_output", "counterpart_as_output"))
            if nothing is None:  # KID: no Inception weights offline
                continue
            assert (ideal > nothing) if better == "max" else (ideal < nothing), (d, measure, nothing, ideal)
            checked.append(measure)
    assert sorted(set(checked)) == ["object_domain_probability", "object_translation"]


def test_measures_a_do_nothing_model_passes_cannot_be_selected_by() -> None:
    for measure in ("background_l1", "attention_auc", "offline_mmd_x100", "success_share"):
        with pytest.raises(ConfigError, match="a do-nothing model fails"):
            load_config(ROOT / "params.yaml", [f"train.select_by={measure}"])


def test_a_run_resumes_across_watch_settings_but_not_across_a_changed_hold_out() -> None:
    """Evaluating more or less often changes nothing trained; holding other images out does."""
    from spagan.training.state import trained_sections

    base = trained_sections(_cfg("train.eval_every=2"))
    assert trained_sections(_cfg("train.eval_every=4", "train.select_by=object_domain_probability")) == base
    assert trained_sections(_cfg("train.eval_every=0")) != base  # the held-out images would be trained on
    assert trained_sections(_cfg("train.eval_images=2")) != base
    assert trained_sections(_cfg("train.eval_split=train")) == trained_sections(_cfg("train.eval_every=0"))
