"""CycleGAN's ResNet generator, exposing the first decoder layer's features for the FM loss."""

import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with reflection padding and instance norm, plus the skip."""

    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class Generator(nn.Module):
    """ResNet generator (Johnson et al., as in CycleGAN): c7s1-ngf, d2ngf, d4ngf, R x n_blocks, u2ngf, ungf, c7s1-3.

    At ngf=64, n_blocks=9 it has 11,378,179 parameters, exactly CycleGAN's. Convolutions keep
    their bias because instance norm has no affine part (CycleGAN's use_bias rule).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(inplace=True),
            nn.Conv2d(ngf, ngf * 2, 3, stride=2, padding=1),
            nn.InstanceNorm2d(ngf * 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(ngf * 2, ngf * 4, 3, stride=2, padding=1),
            nn.InstanceNorm2d(ngf * 4),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*[ResidualBlock(ngf * 4) for _ in range(n_blocks)])
        # First decoder layer: its output is what the feature map loss compares (SPEC section 1).
        self.decoder_first = nn.Sequential(
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(ngf * 2),
            nn.ReLU(inplace=True),
        )
        self.decoder_rest = nn.Sequential(
            nn.ConvTranspose2d(ngf * 2, ngf, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, out_channels, 7),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate x ([N, 3, H, W] in [-1, 1], H and W multiples of 4)."""
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, first-decoder-layer features) in one pass."""
        feat = self.decoder_first(self.blocks(self.encoder(x)))
        return self.decoder_rest(feat), feat
