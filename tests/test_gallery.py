"""Gallery PNGs: layout (rows x 4 columns), tile contents, and the base64 thumbnail."""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from spagan.data.preview import markdown_image, thumbnail_base64
from spagan.evaluation.gallery import COLUMNS, PADDING, heatmap, write_gallery

S = 16


def _tile(arr, row, col):
    y, x = PADDING + row * (S + PADDING), PADDING + col * (S + PADDING)
    return arr[y:y + S, x:x + S]


def test_gallery_png_layout_and_tile_contents(tmp_path):
    n = 3
    real = torch.full((n, 3, S, S), -1.0)  # black inputs
    attn = torch.zeros(n, 1, S // 2, S // 2)  # low-res map is upsampled
    attn[1] = 1.0
    fake = torch.ones(n, 3, S, S)  # white translations
    rec = torch.zeros(n, 3, S, S)
    rec[:, 1] = 1.0  # green-ish reconstructions
    path = write_gallery(tmp_path / "gallery" / "a2b.png", real, attn, fake, rec)
    arr = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert arr.shape == (n * S + (n + 1) * PADDING, len(COLUMNS) * S + (len(COLUMNS) + 1) * PADDING, 3)
    assert (_tile(arr, 2, 0) == 0).all()  # input
    assert (_tile(arr, 0, 2) == 255).all()  # translation
    assert (_tile(arr, 1, 3)[..., 1] == 255).all() and (_tile(arr, 1, 3)[..., 0] == 128).all()
    low, high = _tile(arr, 0, 1).mean((0, 1)), _tile(arr, 1, 1).mean((0, 1))
    assert low[2] > low[0] and high[0] > high[2]  # no attention: blue; full attention: red
    assert not list(path.parent.glob(".*tmp"))  # atomic write leaves no temp file


def test_heatmap_range_and_mismatched_inputs_rejected():
    h = heatmap(torch.linspace(0, 1, 64).reshape(8, 8))
    assert h.shape == (3, 8, 8) and h.min() >= 0 and h.max() <= 1
    with pytest.raises(ValueError, match="same non-zero N"):
        write_gallery("unused.png", torch.zeros(2, 3, S, S), torch.zeros(1, 1, S, S),
                      torch.zeros(2, 3, S, S), torch.zeros(2, 3, S, S))


def test_thumbnail_is_small_png_and_markdown_embeds_it(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 600, 3), dtype=np.uint8)).save(path)
    thumb = Image.open(io.BytesIO(base64.b64decode(thumbnail_base64(path, max_side=100))))
    assert thumb.format == "PNG" and thumb.size == (100, 50)
    md = markdown_image(path, alt="a2b", max_side=64)
    assert md.startswith("![a2b](data:image/png;base64,") and md.endswith(")")
