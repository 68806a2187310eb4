"""Networks: CycleGAN parameter counts and the Eq. 1 attention map."""

import pytest
import torch

from spagan.config import ModelConfig
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
