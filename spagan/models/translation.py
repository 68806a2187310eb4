"""One test-time translation of a batch as every caller runs it: `spagan translate` and the
evaluation (spagan.inference.translator) and the previews while training (spagan.training.
previews), so what a preview shows is exactly what the model will do after training.

The source discriminator's attention map multiplies the input (Eq. 2), the generator runs, the
output is blended with the input where model.attention_blend says so, and the other generator
translates back with the target discriminator's map. CycleGAN (model.attention false) sees x
itself and reports an all-ones map, unless `post_hoc_blend` asks for its D's map to blend the
output afterwards (the blend's mechanical share, measured in docs/fidelity.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spagan.config import ModelConfig
from spagan.models.attention import attended_generation, attended_translation, blend_output
from spagan.models.networks import Networks


@dataclass
class Translation:
    """Outputs for a batch: attention of the source discriminator, translation, reconstruction."""

    attention: torch.Tensor  # [N, 1, H, W] in [0, 1] (all ones when attention is off)
    fake: torch.Tensor       # [N, 3, H, W] in [-1, 1]: the translation (blended, where blending is on)
    rec: torch.Tensor | None  # [N, 3, H, W] in [-1, 1]; None when not asked for
    generated: torch.Tensor | None = None  # the generator's own output before any blend (None: same as fake)


def networks_for(nets: Networks, direction: str) -> tuple[torch.nn.Module, ...]:
    """(generator, generator back, source D, target D) of a direction (a2b: G, F, D_A, D_B)."""
    return (nets.G, nets.F, nets.D_A, nets.D_B) if direction == "a2b" else (nets.F, nets.G, nets.D_B, nets.D_A)


@torch.no_grad()
def translate_batch(nets: Networks, model_cfg: ModelConfig, x: torch.Tensor, direction: str, *,
                    reconstruct: bool = True, post_hoc_blend: bool = False) -> Translation:
    """The networks on x ([N, 3, H, W] in [-1, 1], H and W multiples of 4) in `direction`."""
    gen, back, d_src, d_tgt = networks_for(nets, direction)
    if model_cfg.attention:
        blends = post_hoc_blend or model_cfg.attention_blend
        attn = d_src.attention(x)
        generated = attended_generation(gen, x, attn)
        fake = blend_output(generated, x, attn, blends)
        rec = attended_translation(back, fake, d_tgt.attention(fake), blends) if reconstruct else None
    elif post_hoc_blend:  # CycleGAN's generators see x itself; only the output is blended
        attn = d_src.attention(x)
        generated = gen(x)
        fake = blend_output(generated, x, attn, True)
        rec = blend_output(back(fake), fake, d_tgt.attention(fake), True) if reconstruct else None
    else:
        attn = torch.ones_like(x[:, :1])
        generated = fake = gen(x)
        rec = back(fake) if reconstruct else None
    return Translation(attention=attn, fake=fake, rec=rec, generated=None if generated is fake else generated)
