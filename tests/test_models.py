"""Networks: CycleGAN parameter counts and the Eq. 1 attention map."""

import functools

import pytest
import torch

from spagan.config import ModelConfig, load_config
from spagan.config.geometry import auto_n_layers_d, patch_geometry
from spagan.models import Discriminator, Generator, build_networks


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_cyclegan_at_defaults():
    nets = build_networks(ModelConfig())
    assert n_params(nets.G) == 11_378_179
    assert n_params(nets.F) == 11_378_179
    assert n_params(nets.D_A) == 2_764_737
    assert sum(n_params(m) for m in nets.by_name().values()) == 28_285_832


@pytest.mark.parametrize("size", [32, 36, 44])
def test_generator_keeps_size_for_multiples_of_4(size):
    g = Generator(ngf=8, n_blocks=1)
    out, feat = g.forward_with_features(torch.randn(2, 3, size, size))
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1.0
    assert feat.shape == (2, 16, size // 2, size // 2)  # first decoder layer: 2*ngf channels, H/2


@pytest.mark.parametrize("which", ["post_act", "pre_act"])
def test_attention_is_eq1_of_second_to_last_layer(which):
    torch.manual_seed(0)
    d = Discriminator(ndf=8, attention_features=which)
    captured = {}
    # Independent capture: the second-to-last layer is the last conv-norm(-LeakyReLU) block.
    layer = d.act if which == "post_act" else d.body[-1]
    layer.register_forward_hook(lambda m, i, o: captured.__setitem__("f", o.detach().clone()))
    x = torch.randn(3, 3, 40, 40)
    amap = d.attention(x)
    f = captured["f"]
    expected = f.abs().sum(1, keepdim=True)
    expected = expected / expected.amax(dim=(2, 3), keepdim=True)
    expected = torch.nn.functional.interpolate(expected, size=(40, 40), mode="bilinear", align_corners=False)
    assert amap.shape == (3, 1, 40, 40)
    torch.testing.assert_close(amap, expected)
    assert amap.min() >= 0 and amap.max() <= 1
    # per-image normalisation: each map reaches (close to) 1 after upsampling
    assert torch.all(amap.amax(dim=(1, 2, 3)) > 0.9)


def test_attention_finite_for_all_zero_image():
    d = Discriminator(ndf=8)
    amap = d.attention(torch.zeros(2, 3, 32, 32))
    assert torch.isfinite(amap).all()
    assert amap.min() >= 0 and amap.max() <= 1


def test_forward_with_attention_matches_separate_calls():
    torch.manual_seed(1)
    d = Discriminator(ndf=8)
    x = torch.randn(2, 3, 32, 32)
    logits, amap = d.forward_with_attention(x)
    torch.testing.assert_close(logits, d(x))
    torch.testing.assert_close(amap, d.attention(x))


@pytest.mark.parametrize("mode", ["nearest", "bicubic"])
def test_attention_interpolation_modes_stay_in_range(mode):
    d = Discriminator(ndf=8, attention_interp=mode)
    amap = d.attention(torch.randn(2, 3, 36, 36))
    assert amap.shape == (2, 1, 36, 36)
    assert amap.min() >= 0 and amap.max() <= 1


# The table of spagan.config.geometry (and docs): (image size, n_layers_d) -> receptive field px,
# attention map side. The paper's 70 x 70 PatchGAN at 256 px and one layer fewer per halving.
GEOMETRY_TABLE = [(256, 3, 70, 31), (128, 2, 34, 31), (64, 1, 16, 31), (64, 3, 70, 7), (128, 3, 70, 15)]


@functools.cache
def measured_receptive_field(n_layers: int) -> int:
    """Side of the input region one central logit depends on, from the built network's gradient
    (instance norm, which couples every pixel, swapped for the identity; positive weights so that
    nothing cancels)."""
    d = Discriminator(ndf=4, n_layers=n_layers)
    for i, m in enumerate(d.body):
        if isinstance(m, torch.nn.InstanceNorm2d):
            d.body[i] = torch.nn.Identity()
    for m in d.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.01)
    x = torch.ones(1, 3, 256, 256, requires_grad=True)
    logits = d(x)
    logits[0, 0, logits.shape[-2] // 2, logits.shape[-1] // 2].backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("size,n_layers,field,map_side", GEOMETRY_TABLE)
def test_geometry_table_matches_the_built_discriminator(size, n_layers, field, map_side):
    d = Discriminator(ndf=4, n_layers=n_layers)
    seen = {}
    d.body.register_forward_hook(lambda m, i, o: seen.__setitem__("map", o.shape[-2:]))
    logits = d(torch.zeros(1, 3, size, size))
    geometry = patch_geometry(n_layers, size)
    assert tuple(seen["map"]) == (map_side, map_side) == (geometry.map_side,) * 2  # the attention's source
    assert tuple(logits.shape[-2:]) == (geometry.logits_side,) * 2
    assert measured_receptive_field(n_layers) == field == geometry.receptive_field


def test_auto_depth_keeps_the_papers_geometry_and_the_paper_size_counts():
    assert [auto_n_layers_d(s) for s in (32, 64, 96, 128, 192, 256, 512)] == [1, 1, 2, 2, 3, 3, 4]
    for size in (64, 128, 256):  # 31 x 31 maps and patches of about a quarter of the side
        cfg = load_config(None, ["model.n_layers_d=auto", f"train.image_size={size}", f"train.load_size={size}"])
        g = patch_geometry(cfg.model.n_layers_d, size)
        assert g.map_side == 31 and 0.25 <= g.field_share <= 0.28
    paper = load_config(None, ["model.n_layers_d=auto"])  # the dataclass defaults: 256 px
    assert paper.model.n_layers_d == 3
    nets = build_networks(paper.model)
    assert n_params(nets.G) == 11_378_179 and n_params(nets.D_A) == 2_764_737
    with pytest.raises(ValueError, match="unresolved"):
        build_networks(ModelConfig(n_layers_d="auto"))
