"""70x70 PatchGAN discriminator that also yields SPA-GAN's attention map from the same pass."""

import torch
import torch.nn as nn

from spagan.models.attention import attention_from_features


class Discriminator(nn.Module):
    """PatchGAN (CycleGAN's NLayerDiscriminator). At ndf=64, n_layers=3: 2,764,737 parameters.

    `features` is the second-to-last layer (the last conv-norm-LeakyReLU block); its channel-
    summed magnitude is the attention map (Eq. 1). `attention_features` picks the map before
    ("pre_act") or after ("post_act", default) that block's LeakyReLU.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        attention_features: str = "post_act",
        attention_interp: str = "bilinear",
    ):
        super().__init__()
        if attention_features not in ("post_act", "pre_act"):
            raise ValueError(f"attention_features must be post_act or pre_act, got {attention_features!r}")
        self.attention_features = attention_features
        self.attention_interp = attention_interp
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1),
                nn.InstanceNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        # Second-to-last layer, split so both pre- and post-activation features are reachable.
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1), nn.InstanceNorm2d(ndf * mult)]
        self.body = nn.Sequential(*layers)
        self.act = nn.LeakyReLU(0.2, inplace=False)  # not in-place: pre_act features must survive
        self.head = nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits [N, 1, h, w]."""
        return self.head(self.act(self.body(x)))

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(patch logits, attention map [N, 1, H, W] in [0, 1]) from a single pass."""
        pre = self.body(x)
        post = self.act(pre)
        feats = post if self.attention_features == "post_act" else pre
        amap = attention_from_features(feats, x.shape[-2:], self.attention_interp)
        return self.head(post), amap

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 1 attention map of x: [N, 1, H, W], values in [0, 1], finite for any finite x."""
        pre = self.body(x)
        feats = self.act(pre) if self.attention_features == "post_act" else pre
        return attention_from_features(feats, x.shape[-2:], self.attention_interp)
