"""Test-time translation as the paper does it: the source-domain discriminator's attention
map multiplies the input before the generator (so checkpoints keep D_A and D_B). The pass
itself is spagan.models.translation's, which the previews while training share; this adds the
loading, the devices and images of any size."""

from pathlib import Path

import torch

from spagan.config import Config, config_from_stored
from spagan.core.device import pick_device
from spagan.core.errors import SpaganError
from spagan.core.fileio import file_sha256
from spagan.core.layout import DIRECTIONS
from spagan.core.sizing import crop, min_side, pad_to_multiple
from spagan.models import build_networks
from spagan.models.checkpoint import load_model_state, model_file
from spagan.models.translation import Translation, translate_batch


class Translator:
    """Trained G, F, D_A, D_B in eval mode; `run(x, direction)` translates a batch."""

    def __init__(self, cfg: Config, networks_state: dict, device: str | torch.device = "auto",
                 checkpoint_sha256: str = "", *, post_hoc_blend: bool = False):
        self.cfg = cfg
        # Blend every translation with the source D's map as model.attention_blend does, on a model
        # not trained so (CycleGAN included: its D still yields the map): the blend's mechanical share.
        self.post_hoc_blend = post_hoc_blend
        self.device = pick_device(device)
        self.nets = build_networks(cfg.model)
        for name, module in self.nets.by_name().items():
            module.load_state_dict(networks_state[name])
            module.to(self.device).eval()
        self.image_size = cfg.train.image_size
        self.checkpoint_sha256 = checkpoint_sha256

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto", *,
                        post_hoc_blend: bool = False) -> "Translator":
        """Load a model: model.safetensors, checkpoint.pt (weights_only=True) or a model/run folder
        (spagan.models.checkpoint.model_file); checkpoint_sha256 is the sha256 of the file read."""
        path = model_file(path)
        state = load_model_state(path)
        try:
            cfg = config_from_stored(state["config"])
        except SpaganError as exc:
            raise SpaganError(f"{path}: stored config is invalid: {exc}") from None
        return cls(cfg, state["networks"], device, checkpoint_sha256=file_sha256(path), post_hoc_blend=post_hoc_blend)

    @property
    def blends(self) -> bool:
        """Whether translations are blended with the input by the attention map."""
        return self.post_hoc_blend or (self.cfg.model.attention and self.cfg.model.attention_blend)

    @property
    def min_side(self) -> int:
        """Smallest side (after padding to a multiple of 4) these networks translate."""
        return min_side(self.cfg.model.n_layers_d)

    @torch.no_grad()
    def run(self, x: torch.Tensor, direction: str, *, reconstruct: bool = True) -> Translation:
        """Translate x ([N, 3, H, W] in [-1, 1], any H and W) in `direction`; sides that are not
        multiples of 4 are reflection-padded and every output cropped back to H x W.
        reconstruct=False skips the cycle back (half the work when only translations are wanted)."""
        if direction not in DIRECTIONS:
            raise SpaganError(f"direction must be a2b or b2a, got {direction!r}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise SpaganError(f"expected images [N, 3, H, W], got {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_side:
            raise SpaganError(f"images of {x.shape[-1]}x{x.shape[-2]} px are too small: the networks need at "
                              f"least {self.min_side} px on each side (scale them up with --size)")
        x, box = pad_to_multiple(x.to(self.device))
        out = self.run_padded(x, direction, reconstruct=reconstruct)
        return Translation(attention=crop(out.attention, box), fake=crop(out.fake, box),
                           rec=None if out.rec is None else crop(out.rec, box),
                           generated=None if out.generated is None else crop(out.generated, box))

    @torch.no_grad()
    def run_padded(self, x: torch.Tensor, direction: str, *, reconstruct: bool = True) -> Translation:
        """The networks on x as it is (H and W multiples of 4): Eq. 1-2 with the source
        discriminator's attention, then the generator (and the cycle back if asked)."""
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise SpaganError(f"expected H, W multiples of 4, got {tuple(x.shape)}")
        return translate_batch(self.nets, self.cfg.model, x, direction, reconstruct=reconstruct,
                               post_hoc_blend=self.post_hoc_blend)
