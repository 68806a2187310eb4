"""Watching a run: preview grids and TensorBoard events while training (issue 24, items 1-2)."""

import functools
import json
import shutil

import pytest
import torch
from PIL import Image

from spagan.config import load_config
from spagan.core.grid import PADDING
from spagan.inference.translator import Translator
from spagan.models import build_networks
from spagan.models.checkpoint import load_checkpoint
from spagan.core.layout import BOARD_DIR, PREVIEW_DIR
from spagan.training.board import Board
from spagan.training.loop import train as _train
from spagan.training.previews import LABEL_BAND, load_rows, preview_files, translate
from spagan.training.step import LOSS_NAMES
from tests.conftest import ROOT, TINY_OVERRIDES

pytest.importorskip("tensorboard", reason="tensorboard is a dependency in pyproject.toml: rerun scripts/setup.sh")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

train = functools.partial(_train, device="cpu")  # bit-for-bit comparisons: CPU only (see test_train.py)
TILE = 32  # TINY_OVERRIDES' train.image_size
WATCH_OFF = ["watch.preview_every=0", "watch.tensorboard=false"]


def cfg_with(*extra):
    return load_config(ROOT / "params.yaml", TINY_OVERRIDES + list(extra))


def preview_steps(run_dir):
    return sorted(int(p.stem[5:]) for p in (run_dir / PREVIEW_DIR).glob("step_*.png"))


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / BOARD_DIR), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def expected_size(rows_per_direction: int) -> tuple[int, int]:
    """(width, height) of a preview PNG: 4 gallery columns, two directions under label bands."""
    width = 4 * (TILE + PADDING) + PADDING
    return width, 2 * (LABEL_BAND + rows_per_direction * (TILE + PADDING) + PADDING)


def test_previews_every_n_steps_and_at_the_last_with_the_gallery_layout(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(cfg_with("train.max_steps=5", "watch.preview_every=2", "watch.preview_images=3"), tiny_data, run)
    assert preview_steps(run) == [2, 4, 5]
    assert (run / PREVIEW_DIR / "step_000002.png").is_file()
    # 3 train + 3 test rows per direction
    assert Image.open(run / PREVIEW_DIR / "step_000005.png").size == expected_size(6)
    assert not list((run / PREVIEW_DIR).glob("*.tmp*"))  # written atomically, nothing left over


def test_previews_without_a_test_split_show_the_training_rows(tiny_data, tmp_path):
    for folder in ("testA", "testB"):
        shutil.rmtree(tiny_data / folder)
    run = tmp_path / "run"
    train(cfg_with("train.max_steps=1", "watch.preview_every=1", "watch.preview_images=2"), tiny_data, run)
    assert Image.open(run / PREVIEW_DIR / "step_000001.png").size == expected_size(2)


def test_keeps_the_first_preview_and_the_last_n(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(cfg_with("train.max_steps=6", "watch.preview_every=1", "watch.preview_keep=2", "watch.tensorboard=false"),
          tiny_data, run)
    assert preview_steps(run) == [1, 5, 6]


@pytest.mark.parametrize("model", [[], ["model.attention=false", "train.lambda_fm=0"]], ids=["spagan", "cyclegan"])
def test_weights_are_bit_identical_with_the_watch_on_and_off(tiny_data, tmp_path, model):
    # Every step previewed and logged: any RNG draw, mode change or state write would show.
    on = train(cfg_with(*model, "train.max_steps=4", "watch.preview_every=1", "watch.tensorboard=true"),
               tiny_data, tmp_path / "on")
    off = train(cfg_with(*model, "train.max_steps=4", *WATCH_OFF), tiny_data, tmp_path / "off")
    digest = {name: json.loads((tmp_path / name / "metrics.json").read_text())["weights_digest_per_rank"]
              for name in ("on", "off")}
    assert digest["on"] == digest["off"]
    assert on.losses == off.losses
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("on", "off"))
    assert torch.equal(a["ranks"][0]["rng"]["torch"], b["ranks"][0]["rng"]["torch"])  # nothing drawn
    assert preview_steps(tmp_path / "on") == [1, 2, 3, 4] and not (tmp_path / "off" / PREVIEW_DIR).exists()
    assert not (tmp_path / "off" / BOARD_DIR).exists()


@pytest.mark.parametrize("model", [
    ["model.attention=true", "model.attention_blend=false"],
    ["model.attention=true", "model.attention_blend=true", "model.attention_features=pre_act"],
    ["model.attention=false"],
], ids=["paper", "blend", "cyclegan"])
def test_preview_translation_is_the_translators(tiny_data, model):
    cfg = cfg_with(*model)
    torch.manual_seed(1)
    translator = Translator(cfg, build_networks(cfg.model).state_dicts(), device="cpu")
    rows = load_rows(preview_files(tiny_data, 2), TILE, torch.device("cpu"))
    for direction, row in rows.items():
        attn, fake, rec = translate(translator.nets, cfg.model, row.images, direction)
        want = translator.run_padded(row.images, direction)
        assert torch.equal(attn, want.attention) and torch.equal(fake, want.fake) and torch.equal(rec, want.rec)
        if not cfg.model.attention:
            assert torch.all(attn == 1)


def test_event_files_hold_losses_lr_speed_previews_and_attention(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(cfg_with("train.max_steps=5", "watch.log_every=2", "watch.preview_every=2"), tiny_data, run)
    acc = events(run)
    scalars = {f"loss/{name}" for name in LOSS_NAMES} | {"train/lr", "train/images_per_s"}
    assert set(acc.Tags()["scalars"]) == scalars
    assert set(acc.Tags()["images"]) == {"preview", "attention/a2b", "attention/b2a"}
    for tag in scalars:
        assert [e.step for e in acc.Scalars(tag)] == [2, 4, 5], tag
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [e.value for e in acc.Scalars("loss/G")] == pytest.approx([r["G"] for r in log])
    preview = acc.Images("preview")
    assert [e.step for e in preview] == [2, 4, 5]
    assert (preview[0].width, preview[0].height) == expected_size(8)  # 4 train + 4 test rows
    assert [e.step for e in acc.Images("attention/b2a")] == [2, 4, 5]


def test_board_adds_scalars_of_other_tags(tmp_path):
    board = Board(tmp_path / BOARD_DIR)
    board.add_scalars_at(3, {"eval/a2b/object_translation": 0.5, "eval/b2a/object_translation": 0.25})
    board.close()
    acc = events(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("eval/a2b/object_translation")] == [(3, 0.5)]
    assert acc.Scalars("eval/b2a/object_translation")[0].value == 0.25


def test_resume_keeps_earlier_previews_and_continues_the_event_log(tiny_data, tmp_path):
    run = tmp_path / "run"
    cfg = functools.partial(cfg_with, "watch.checkpoint_every=2", "watch.preview_every=3")

    def crash_at_4(info):
        if info["step"] == 4:
            raise RuntimeError("killed")

    # Checkpoint at 2; steps 3 (logged, previewed) past it; the crash at 4 still closes the writer.
    with pytest.raises(RuntimeError, match="killed"):
        train(cfg("train.max_steps=6"), tiny_data, run, on_progress=crash_at_4)
    assert preview_steps(run) == [3]
    assert [e.step for e in events(run).Scalars("loss/G")] == [1, 2, 3]
    first_3 = (run / PREVIEW_DIR / "step_000003.png").read_bytes()

    resumed = train(cfg("train.max_steps=6"), tiny_data, run, resume=True)
    assert resumed.resumed_from == 2 and resumed.steps == 6
    assert preview_steps(run) == [3, 6]
    assert (run / PREVIEW_DIR / "step_000003.png").read_bytes() == first_3  # drawn again, identically
    acc = events(run)
    assert [e.step for e in acc.Scalars("loss/G")] == [1, 2, 3, 4, 5, 6]  # step 3 once: purged, then relogged
    assert [e.step for e in acc.Images("preview")] == [3, 6]

    # Watch settings may change between resumes (they are not part of what is trained)
    train(cfg("train.max_steps=8", "watch.preview_every=4"), tiny_data, run, resume=True)
    assert preview_steps(run) == [3, 6, 8]
    assert [e.step for e in events(run).Scalars("loss/G")] == list(range(1, 9))


def test_a_fresh_run_in_an_old_folder_starts_a_new_watch(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(cfg_with("train.max_steps=3", "watch.preview_every=1"), tiny_data, run)
    train(cfg_with("train.max_steps=2", "watch.preview_every=2"), tiny_data, run)
    assert preview_steps(run) == [2]
    assert [e.step for e in events(run).Scalars("loss/G")] == [1, 2]


def test_a_missing_tensorboard_is_a_warning_not_a_failed_run(tiny_data, tmp_path, monkeypatch, caplog):
    import spagan.training.watch as watch

    def no_tensorboard(*_args, **_kwargs):
        raise ImportError("No module named 'tensorboard'")

    monkeypatch.setattr(watch, "Board", no_tensorboard)
    result = train(cfg_with("train.max_steps=2", "watch.preview_every=1"), tiny_data, tmp_path / "run")
    assert result.finished and result.steps == 2
    assert "TensorBoard cannot be imported" in caplog.text
    assert preview_steps(tmp_path / "run") == [1, 2]
