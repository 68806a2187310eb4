"""model.attention_blend: the translation A*G(A*x) + (1-A)*x, the same in training, inference and export."""

import torch

from spagan.config import load_config
from spagan.inference.export import translation_graph
from spagan.inference.translator import Translator
from spagan.models import apply_attention, blend_output, build_networks
from tests.conftest import ROOT, TINY_OVERRIDES
from tests.test_step import batch, make_step


def test_blend_keeps_the_input_where_attention_is_zero_and_the_translation_where_it_is_one():
    x, generated = torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), -0.25)
    amap = torch.zeros(1, 1, 4, 4)
    amap[..., :2] = 1.0
    out = blend_output(generated, x, amap, blend=True)
    assert torch.equal(out[..., :2], generated[..., :2])
    assert torch.equal(out[..., 2:], x[..., 2:])
    assert torch.equal(blend_output(generated, x, amap, blend=False), generated)  # the paper
    assert torch.equal(blend_output(generated, x, None, blend=True), generated)  # attention off


def test_blend_changes_training_and_trains_finite():
    paper, _ = make_step("model.attention_blend=false")
    blended, _ = make_step("model.attention_blend=true")
    a, b = batch()
    losses_paper, losses_blend = paper(a, b), blended(a, b)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses_blend.values())
    # same networks and data: only the translation's composition differs, so the cycle loss does
    assert losses_blend["cycle"] != losses_paper["cycle"]


def _translator(blend: bool) -> Translator:
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + [f"model.attention_blend={str(blend).lower()}"])
    torch.manual_seed(0)
    return Translator(cfg, build_networks(cfg.model).state_dicts(), device="cpu")


def test_inference_and_export_graph_compose_the_blend():
    tr = _translator(blend=True)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = tr.run(x, "a2b")
    with torch.no_grad():
        amap = tr.nets.D_A.attention(x)
        expected = amap * tr.nets.G(apply_attention(x, amap)) + (1 - amap) * x
        graph_fake, graph_attn = translation_graph(tr, "a2b")(x)
    torch.testing.assert_close(out.fake, expected)
    torch.testing.assert_close(graph_fake, expected)
    torch.testing.assert_close(graph_attn, amap)
    paper = _translator(blend=False).run(x, "a2b")
    assert not torch.allclose(paper.fake, out.fake)  # the key is read, not ignored
