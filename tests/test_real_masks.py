"""Real masks (a masked testA of photos at varying sizes, e.g. the Weizmann horses): the attention
AUC on the map at the image's own resolution with the mask aligned, the change inside against
outside the mask, and their reference rows, which a do-nothing model must fail."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from spagan.config import load_config
from spagan.core.imageio import load_image_fitted
from spagan.evaluation.baselines import write_constant_checkpoint
from spagan.evaluation.evaluate import evaluate
from spagan.evaluation.masked_report import masked_flat, masked_rows
from spagan.evaluation.metrics.inside_outside import MaskedScores, centre_prior, change_inside_outside
from spagan.evaluation.metrics.masks import load_mask
from spagan.models import build_networks
from spagan.models.checkpoint import save_checkpoint
from tests.conftest import ROOT, TINY_OVERRIDES
from tests.real_data import HORSE2ZEBRA, WEIZMANN, require

N_HORSES = 6  # Weizmann horses in the test split: sizes 198..346 x 212..400 px


def _mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[h // 4 : h // 2, w // 3 : w - 3] = True  # off-centre, so the centre prior is not the mask
    return m


def test_a_map_equal_to_the_mask_scores_auc_1_and_a_uniform_map_0_5_at_a_non_square_size():
    h, w = 21, 64
    mask = _mask(h, w)
    real = torch.rand(3, h, w) * 2 - 1
    scores = MaskedScores()
    scores.add(torch.from_numpy(mask.astype(np.float32)), real, real.clone(), mask)
    att = scores.result()["attention"]
    assert att["attention"]["auc"] == 1.0 and att["attention"]["in_mask"] == 1.0
    assert att["uniform"]["auc"] == 0.5 and att["uniform"]["in_mask"] == pytest.approx(mask.mean())
    assert 0.0 < att["centre_prior"]["auc"] < 1.0 and centre_prior(h, w).shape == (h, w)
    with pytest.raises(ValueError, match="one size"):  # a transposed mask is an error, not a silent score
        scores.add(torch.zeros(h, w), real, real, mask.T)


def test_input_as_output_changes_nothing_and_a_constant_output_changes_everywhere():
    h, w = 30, 44
    mask = _mask(h, w)
    real = torch.rand(3, h, w) * 2 - 1
    assert change_inside_outside(real, real, mask) == (0.0, 0.0)
    inside, outside = change_inside_outside(real, torch.zeros_like(real), mask)
    assert inside > 0.15 and outside > 0.15  # uniform noise in [0, 1] against mid grey: 0.25 on average
    scores = MaskedScores()
    stripes = real.clone()
    stripes[:, torch.from_numpy(mask)] *= -1  # changes the object only: what a good translation does
    scores.add(torch.zeros(h, w), real, stripes, mask)
    change = scores.result()["change"]
    assert change["input_as_output"] == {"inside": 0.0, "outside": 0.0, "ratio": None}
    assert change["translation"]["outside"] == 0.0 and change["translation"]["inside"] > 0.15
    assert change["constant_as_output"]["outside"] > 0.15 and 0.5 < change["constant_as_output"]["ratio"] < 2


def test_a_real_mask_follows_its_photo_when_the_longer_side_is_scaled():
    """The mask of a Weizmann photo (400 x 295) drawn as an image goes through the image loader, the
    mask through load_mask: they agree pixel for pixel but at the borders (AUC of one against the other)."""
    path = require(WEIZMANN) / "masks" / "horse001.png"
    image = load_image_fitted(path, 64)
    mask = load_mask(path, tuple(image.shape[-2:]))
    assert image.shape[-2:] == (47, 64) and mask.shape == (47, 64)
    scores = MaskedScores()
    scores.add(image[0], image, image, mask)
    assert scores.result()["attention"]["attention"]["auc"] > 0.99


@pytest.fixture
def weizmann_as_test_a(tmp_path):
    """A masked testA of N_HORSES Weizmann photos at their own sizes, testB of 2 horse2zebra zebras."""
    weizmann, h2z = require(WEIZMANN), require(HORSE2ZEBRA)
    data = tmp_path / "data"
    for folder in ("testA", "testA_mask", "testB"):
        (data / folder).mkdir(parents=True)
    for path in sorted((weizmann / "images").iterdir())[:N_HORSES]:
        shutil.copy2(path, data / "testA" / path.name)
        shutil.copy2(weizmann / "masks" / f"{path.stem}.png", data / "testA_mask" / f"{path.stem}.png")
    for path in sorted((h2z / "testB").iterdir())[:2]:
        shutil.copy2(path, data / "testB" / path.name)
    return data


def test_evaluate_on_weizmann_horses_reports_the_masked_measures_and_a_constant_model_fails(
        weizmann_as_test_a, tmp_path, isolated_torch_hub):
    cfg = load_config(ROOT / "params.yaml", [*TINY_OVERRIDES, "model.n_layers_d=1", "eval.gallery_size=3"])
    ckpt = tmp_path / "model.pt"
    save_checkpoint({"networks": build_networks(cfg.model).state_dicts(), "config": cfg.to_dict()}, ckpt)
    metrics = evaluate(cfg.eval, ckpt, weizmann_as_test_a, tmp_path / "eval", device="cpu")
    a2b = metrics["a2b"]
    block = a2b["real_masks"]
    assert a2b["n_masks"] == block["n_images"] == N_HORSES and "real_masks" not in metrics["b2a"]
    assert block["attention"]["attention"]["auc"] == pytest.approx(a2b["attention_auc"])
    assert block["attention"]["uniform"]["auc"] == 0.5
    assert 0.05 < block["mask_share"] < 0.45  # the horse covers 5 to 43% of a Weizmann photo
    change = block["change"]
    assert change["input_as_output"] == {"inside": 0.0, "outside": 0.0, "ratio": None}
    assert change["translation"]["outside"] > 0  # an untrained generator changes the background
    with Image.open(tmp_path / "eval" / "gallery" / "a2b.png") as im:
        assert im.size[0] > im.size[1] / 3  # 3 rows of 4 tiles, each at its image's aspect (letterboxed)

    # The constant-output generators, as a real checkpoint through the same evaluate: its translation
    # row is the constant reference row, with a large change outside the horse (a measure that
    # rewards an untouched background fails it) and little preference for the horse (ratio near 1:
    # the horse's colours lie a little further from mid grey than the field's).
    const = write_constant_checkpoint(ckpt, tmp_path / "constant.pt")
    c = evaluate(cfg.eval, const, weizmann_as_test_a, tmp_path / "eval_const", device="cpu")["a2b"]["real_masks"]
    for key in ("inside", "outside", "ratio"):
        assert c["change"]["translation"][key] == pytest.approx(c["change"]["constant_as_output"][key], abs=1e-6)
    assert c["change"]["translation"]["outside"] > 0.2 and 0.5 < c["change"]["translation"]["ratio"] < 2
    # the same D_A: the constant generators leave the attention as it was
    assert c["attention"]["attention"]["auc"] == pytest.approx(block["attention"]["attention"]["auc"])

    rows = {r[0]: r for r in masked_rows(metrics)}
    assert rows["attention ROC AUC"][1].endswith("[0.500; " + f"{block['attention']['centre_prior']['auc']:.3f}]")
    assert rows["change outside mask [0,1]"][2] == "-"  # b2a has no masks
    assert set(masked_flat(metrics)) == {f"a2b_mask_{k}" for k in ("attention_auc", "attention_in_mask",
                                                                    "change_inside", "change_outside",
                                                                    "change_ratio")}

    # What the Dagster evaluation assets show: a table of their own, flat numbers, a line over the gallery.
    from orchestration.assets.evaluation import gallery_metadata, score_metadata

    meta = score_metadata(metrics)
    assert meta["a2b_mask_attention_auc"] == pytest.approx(a2b["attention_auc"])
    assert [r.data["metric"] for r in meta["real_masks"].records][:2] == ["attention ROC AUC", "attention in mask"]
    text = gallery_metadata(metrics, tmp_path / "eval")["a2b"].value
    assert "attention ROC AUC" in text and "change inside / outside" in text and "data:image/png;base64," in text
