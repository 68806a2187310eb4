"""SPA-GAN spatial attention from discriminator features (paper Eq. 1 and Eq. 2).

A(x) = sum_i |F_i(x)| over the C feature maps of the second-to-last discriminator layer
(power p = 1, no softmax), normalised per image by its maximum so values lie in [0, 1],
then upsampled to the input's height and width. The generator sees A(x) * x (Eq. 2).
"""

import torch
import torch.nn.functional as F

# Floor for the per-image maximum: keeps an all-zero feature map (e.g. an all-black image
# after instance norm) finite instead of 0/0 = NaN.
_EPS = 1e-12


def attention_from_features(features: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Eq. 1: channel-summed absolute features -> [N, 1, H, W] map in [0, 1] at `size`."""
    if features.dim() != 4:
        raise ValueError(f"expected [N, C, h, w] features, got shape {tuple(features.shape)}")
    # Reduce in float32: bf16 sums over 512 channels lose too much precision.
    amap = features.float().abs().sum(dim=1, keepdim=True)
    peak = amap.amax(dim=(2, 3), keepdim=True).clamp_min(_EPS)
    amap = amap / peak
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    amap = F.interpolate(amap, size=size, mode=mode, **kwargs)
    # Bicubic can overshoot; bilinear/nearest stay in range (convex combinations).
    return amap.clamp_(0.0, 1.0)


def apply_attention(x: torch.Tensor, amap: torch.Tensor | None) -> torch.Tensor:
    """Eq. 2: the attended input A(x) * x (x unchanged when attention is off)."""
    return x if amap is None else amap.to(x.dtype) * x


def blend_output(generated: torch.Tensor, x: torch.Tensor, amap: torch.Tensor | None, blend: bool) -> torch.Tensor:
    """The translation: G(A(x) * x) as the paper has it, or, with model.attention_blend (a
    departure from the paper), A(x) * G(A(x) * x) + (1 - A(x)) * x: low-attention pixels keep
    the input, so the generator's changes stay where the discriminator looks."""
    if not blend or amap is None:
        return generated
    a = amap.to(generated.dtype)
    return a * generated + (1 - a) * x.to(generated.dtype)


def attended_generation(generator: torch.nn.Module, x: torch.Tensor, amap: torch.Tensor | None) -> torch.Tensor:
    """Eq. 2: the generator on the attended input, G(A(x) * x), before any blend."""
    return generator(apply_attention(x, amap))


def attended_translation(generator: torch.nn.Module, x: torch.Tensor, amap: torch.Tensor | None,
                         blend: bool) -> torch.Tensor:
    """One generator pass as every test-time path runs it: Eq. 2's attended input, the generator,
    then blend_output (translate, evaluation, the ONNX graph, the cycle back)."""
    return blend_output(attended_generation(generator, x, amap), x, amap, blend)
