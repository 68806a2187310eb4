"""Loss terms of SPA-GAN: pure functions of tensors (one idea each)."""

import torch
import torch.nn.functional as F


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: str = "lsgan") -> torch.Tensor:
    """Adversarial loss on patch logits: LSGAN (MSE to 1/0, CycleGAN's default) or vanilla BCE."""
    logits = logits.float()  # keep the loss in fp32 under bf16 autocast
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ValueError(f"unknown gan_mode {mode!r} (lsgan or vanilla)")


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle consistency: L1 between F(G(x)) and the original (un-attended) x."""
    return F.l1_loss(reconstructed.float(), original.float())


def identity_loss(same: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Identity: L1 between G(y) and y (keeps colour composition)."""
    return F.l1_loss(same.float(), original.float())


def feature_map_loss(feat_real: torch.Tensor, feat_fake: torch.Tensor) -> torch.Tensor:
    """SPA-GAN feature map loss: L1 between the generator's first-decoder-layer feature maps
    of a real (attended) image and a generated (attended) image."""
    return F.l1_loss(feat_real.float(), feat_fake.float())
