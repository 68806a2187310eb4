"""The four networks of SPA-GAN / CycleGAN, built from ModelConfig and initialised as CycleGAN does."""

from dataclasses import dataclass

import torch
import torch.nn as nn

from spagan.config import ModelConfig
from spagan.models.discriminator import Discriminator
from spagan.models.generator import Generator


@dataclass
class Networks:
    """G: A->B (the paper's G: X->Y), F: B->A, D_A (D_X, judges domain A), D_B (D_Y)."""

    G: Generator
    F: Generator
    D_A: Discriminator
    D_B: Discriminator

    def by_name(self) -> dict[str, nn.Module]:
        """Name -> network, in a fixed order (the checkpoint's keys). Not `modules()`: on an
        nn.Module that name means every submodule."""
        return {"G": self.G, "F": self.F, "D_A": self.D_A, "D_B": self.D_B}

    def state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """Name -> state_dict of each network: the `networks` entry of a checkpoint."""
        return {name: net.state_dict() for name, net in self.by_name().items()}

    def to(self, device: torch.device, memory_format: torch.memory_format = torch.contiguous_format) -> "Networks":
        for m in self.by_name().values():
            m.to(device=device, memory_format=memory_format)
        return self


# The methods a training step calls on each network (compiled in place by compile_networks).
PASS_METHODS: dict[type, tuple[str, ...]] = {
    Generator: ("forward_with_features",),
    Discriminator: ("forward", "forward_with_attention", "attention"),
}


def compile_networks(nets: Networks) -> Networks:
    """torch.compile every pass method of the four networks, in place.

    The modules themselves stay as they are (no `_orig_mod.` wrapper), so parameters, optimiser
    state and checkpoint keys are those of an eager run and a checkpoint loads either way.
    """
    for module in nets.by_name().values():
        for name in PASS_METHODS[type(module)]:
            setattr(module, name, torch.compile(getattr(module, name)))
    return nets


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """CycleGAN's 'normal' init: conv weights N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_networks(cfg: ModelConfig) -> Networks:
    """Create and initialise G, F, D_A, D_B (on the CPU) from the model config (as loaded by
    spagan.config, which resolves `n_layers_d: auto` at the training size)."""
    if not isinstance(cfg.n_layers_d, int):
        raise ValueError(f"model.n_layers_d={cfg.n_layers_d!r} is unresolved: load the config through "
                         "spagan.config (load_config, config_from_dict), which resolves auto at train.image_size")
    nets = Networks(
        G=Generator(ngf=cfg.ngf, n_blocks=cfg.n_blocks),
        F=Generator(ngf=cfg.ngf, n_blocks=cfg.n_blocks),
        D_A=Discriminator(ndf=cfg.ndf, n_layers=cfg.n_layers_d, attention_features=cfg.attention_features,
                          attention_interp=cfg.attention_interp),
        D_B=Discriminator(ndf=cfg.ndf, n_layers=cfg.n_layers_d, attention_features=cfg.attention_features,
                          attention_interp=cfg.attention_interp),
    )
    for m in nets.by_name().values():
        init_weights(m)
    return nets
