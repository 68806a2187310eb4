"""Native-size translation: sizes and aspect kept, reflection padding, batching by size, the memory guard."""

import numpy as np
import pytest
import torch
from PIL import Image

from spagan.cli import main
from spagan.core.errors import SpaganError
from spagan.core.sizing import crop, fit_longer_side, pad_to_multiple
from spagan.inference.memory import largest_fitting_side, translation_bytes
from spagan.inference.translate import translate_folder
from spagan.inference.translator import Translator
from spagan.models import build_networks
from spagan.models.checkpoint import save_checkpoint


@pytest.fixture
def checkpoint(tiny_cfg, tmp_path):
    torch.manual_seed(0)
    nets = build_networks(tiny_cfg.model)
    path = tmp_path / "ckpt" / "checkpoint.pt"
    save_checkpoint({"networks": nets.state_dicts(),
                     "config": tiny_cfg.to_dict()}, path)
    return path


def _photo(path, w, h, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def _size(path):
    with Image.open(path) as im:
        return im.size


def test_mixed_sizes_come_back_at_their_own_size_with_attention(checkpoint, tmp_path):
    src = tmp_path / "in"
    _photo(src / "wide.png", 100, 76)
    _photo(src / "odd.png", 70, 45, seed=1)
    _photo(src / "sq.jpg", 64, 64, seed=2)
    _photo(src / "sub" / "odd2.png", 70, 45, seed=3)  # same size as odd.png: one batch
    written = translate_folder(checkpoint, "a2b", src, tmp_path / "out", save_attention=True, device="cpu")
    assert len(written) == 4
    for name, size in (("wide", (100, 76)), ("odd", (70, 45)), ("sq", (64, 64)), ("sub/odd2", (70, 45))):
        assert _size(tmp_path / "out" / f"{name}.png") == size
        assert _size(tmp_path / "out" / f"{name}_attention.png") == size


def test_size_scales_the_longer_side_and_keeps_the_aspect(checkpoint, tmp_path):
    _photo(tmp_path / "in" / "a.png", 100, 76)
    _photo(tmp_path / "in" / "b.png", 45, 90)
    translate_folder(checkpoint, "b2a", tmp_path / "in", tmp_path / "out", size=48, device="cpu")
    assert _size(tmp_path / "out" / "a.png") == (48, 36)
    assert _size(tmp_path / "out" / "b.png") == (24, 48)
    assert fit_longer_side(640, 427, 256) == (256, 171)


def test_batched_and_single_translations_agree(checkpoint, tmp_path):
    """Batching by size changes nothing (instance norm is per image)."""
    for i in range(3):
        _photo(tmp_path / "in" / f"{i}.png", 70, 45, seed=i)
    translate_folder(checkpoint, "a2b", tmp_path / "in", tmp_path / "batched", batch_size=3, device="cpu")
    translate_folder(checkpoint, "a2b", tmp_path / "in", tmp_path / "single", batch_size=1, device="cpu")
    for i in range(3):
        a = np.asarray(Image.open(tmp_path / "batched" / f"{i}.png")).astype(int)
        b = np.asarray(Image.open(tmp_path / "single" / f"{i}.png")).astype(int)
        assert np.abs(a - b).max() <= 1


def test_reflection_padding_leaves_no_border_in_a_constant_image(checkpoint):
    translator = Translator.from_checkpoint(checkpoint, "cpu")
    x = torch.full((1, 3, 45, 70), 0.3)
    padded, box = pad_to_multiple(x)
    assert padded.shape[-2:] == (48, 72) and torch.equal(padded, torch.full_like(padded, 0.3))
    assert torch.equal(crop(padded, box), x)
    out = translator.run(x, "a2b", reconstruct=True)
    assert out.fake.shape == (1, 3, 45, 70) and out.attention.shape == (1, 1, 45, 70)
    # zero padding would darken the border; reflection gives exactly the cropped 72x48 result
    ref = translator.run(torch.full((1, 3, 48, 72), 0.3), "a2b")
    assert torch.allclose(out.fake, crop(ref.fake, box), atol=1e-6)
    assert torch.allclose(out.attention, crop(ref.attention, box), atol=1e-6)


def test_too_small_image_is_a_user_error(checkpoint, tmp_path):
    _photo(tmp_path / "in" / "tiny.png", 12, 40)
    with pytest.raises(SpaganError, match="tiny.png: 12x40 px is too small"):
        translate_folder(checkpoint, "a2b", tmp_path / "in", tmp_path / "out", device="cpu")


def test_memory_model_and_largest_fitting_side():
    assert translation_bytes(4000, 3000, 64) > translation_bytes(2000, 1500, 64) > translation_bytes(64, 64, 64)
    budget = translation_bytes(1000, 750, 64)
    side = largest_fitting_side(4000, 3000, 64, budget)
    assert side is not None and side % 4 == 0 and 990 <= side <= 1000
    w, h = fit_longer_side(4000, 3000, side)
    assert translation_bytes(h, w, 64) <= budget < translation_bytes(int(h * 1.02), int(w * 1.02), 64)
    assert largest_fitting_side(4000, 3000, 64, 2**20) is None


def test_too_large_for_memory_fails_at_once_with_a_size_that_fits(checkpoint, tmp_path, capsys):
    _photo(tmp_path / "in" / "big.png", 400, 300)
    _photo(tmp_path / "in" / "small.png", 40, 30)
    _photo(tmp_path / "in" / "square.png", 60, 60)  # fits as it is, but not scaled up to 200 x 200
    ngf = 8
    limit = translation_bytes(150, 200, ngf)  # room for a 200 x 150 image, not 400 x 300
    code = main(["translate", "--checkpoint", str(checkpoint), "--direction", "a2b", "--input", str(tmp_path / "in"),
                 "--output", str(tmp_path / "out"), "--max-memory", str(limit / 2**30), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("spagan translate: error: ")  # one line, no progress bar
    assert "big.png: translating 400x300 px needs about" in err and "use --size 172 " in err
    assert not (tmp_path / "out").exists()  # nothing was translated first
    translate_folder(checkpoint, "a2b", tmp_path / "in", tmp_path / "out", size=172, memory_limit=limit,
                     device="cpu")
    assert _size(tmp_path / "out" / "big.png") == (172, 129) and _size(tmp_path / "out" / "square.png") == (172, 172)


def test_exif_rotated_photo_comes_back_upright_at_its_displayed_size(checkpoint, tmp_path):
    """A camera JPEG stored 70x45 with orientation 6 (rotate 90) is a 45x70 photo: sized from its header."""
    src = tmp_path / "in" / "cam.jpg"
    src.parent.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((45, 70, 3), np.uint8)).save(src, exif=exif)
    translate_folder(checkpoint, "a2b", src.parent, tmp_path / "out", save_attention=True, device="cpu")
    assert _size(tmp_path / "out" / "cam.png") == (45, 70) == _size(tmp_path / "out" / "cam_attention.png")
