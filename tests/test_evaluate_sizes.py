"""`evaluate` and the galleries on test images of any size: aspect kept, masks at each image's size."""

import numpy as np
import torch
from PIL import Image

from spagan.config import load_config
from spagan.evaluation.evaluate import evaluate
from spagan.evaluation.gallery import PADDING, gallery_grid
from spagan.models import build_networks
from spagan.models.checkpoint import save_checkpoint
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains


def test_gallery_letterboxes_tiles_of_different_sizes():
    real = [torch.full((3, 20, 40), -1.0), torch.full((3, 30, 10), -1.0)]
    attn = [torch.ones(1, 5, 10), torch.zeros(1, 30, 10)]
    grid = gallery_grid(real, attn, real, real)
    assert grid.shape == (3, 2 * 30 + 3 * PADDING, 4 * 40 + 5 * PADDING)
    tile = grid[:, PADDING:PADDING + 30, PADDING:PADDING + 40]  # row 0, input: 40x20 centred in 40x30
    assert (tile[:, 5:25] == -1).all() and (tile[:, :5] == 1).all() and (tile[:, 25:] == 1).all()


def test_evaluate_accepts_test_images_of_any_size(tmp_path, isolated_torch_hub):
    data = write_tiny_domains(tmp_path / "data", n=3)
    rng = np.random.default_rng(0)
    for folder, (w, h) in (("testA", (70, 45)), ("testB", (36, 60))):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(data / folder / "odd.png")
    (data / "testA_mask").mkdir()
    for name, (w, h) in (("000.png", (40, 40)), ("odd.png", (70, 45))):
        mask = np.zeros((h, w), np.uint8)
        mask[5:20, 5:30] = 255
        Image.fromarray(mask).save(data / "testA_mask" / name)
    cfg = load_config(ROOT / "params.yaml", [*TINY_OVERRIDES, "eval.gallery_size=4"])
    nets = build_networks(cfg.model)
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint({"networks": nets.state_dicts(), "config": cfg.to_dict()},
                    ckpt)
    metrics = evaluate(cfg.eval, ckpt, data, tmp_path / "eval", device="cpu")
    assert metrics["a2b"]["n_images"] == 4 and metrics["a2b"]["n_masks"] == 2
    assert metrics["b2a"]["success_share"] is not None and metrics["a2b"]["kid_x100"]["status"] == "unavailable"
    assert "aspect kept" in metrics["settings"]["load"]
    with Image.open(tmp_path / "eval" / "gallery" / "a2b.png") as im:
        # 32 px training size: 70x45 -> 32x21 and 40x40 -> 32x32, rows letterboxed into 32x32 cells
        assert im.size == (4 * 32 + 5 * PADDING, 4 * 32 + 5 * PADDING)
