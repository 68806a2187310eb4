"""Models: SPA-GAN's networks (CycleGAN's backbone plus discriminator-derived spatial attention)
and their checkpoint files.

May import spagan.config and spagan.core only: no training, data files or CLI."""

from spagan.models.attention import (
    apply_attention,
    attended_generation,
    attended_translation,
    attention_from_features,
    blend_output,
)
from spagan.models.discriminator import Discriminator
from spagan.models.generator import Generator
from spagan.models.networks import Networks, build_networks, compile_networks

__all__ = [
    "Discriminator",
    "Generator",
    "Networks",
    "apply_attention",
    "attended_generation",
    "attended_translation",
    "blend_output",
    "attention_from_features",
    "build_networks",
    "compile_networks",
]
