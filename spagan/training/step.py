"""One SPA-GAN optimisation step (generators, then discriminators).

Paper mapping: G: X->Y is `G` (A->B), F: Y->X is `F`, D_X is `D_A`, D_Y is `D_B`.
Every generator input is attended with its source discriminator's map (Eq. 2): G sees
A_{D_X}(.) * ., F sees A_{D_Y}(.) * ., in the forward and cycle passes, and in the identity
pass unless train.identity_input is raw (CycleGAN's identity input; the paper names no identity
loss). The discriminators judge un-attended images.

Discriminator passes are shared, not repeated: D_X(x) gives both x's attention map and the
real-image logits of D_X's loss; D_Y(G(x_a)) gives both the adversarial logits of G's loss and
the attention map of the cycle pass. The only extra passes over CycleGAN are the two maps of
the attended identity inputs (no-grad when the map is detached). With attention off and lambda_fm = 0
the step computes exactly CycleGAN's losses.
"""

import contextlib
import math
from collections.abc import Callable

import torch

from spagan.config import ModelConfig, TrainConfig
from spagan.core.errors import SpaganError
from spagan.models import Networks, apply_attention, blend_output
from spagan.training.image_pool import ImagePool
from spagan.training.losses import cycle_loss, feature_map_loss, gan_loss, identity_loss

# train.fuse_passes=auto batches a generator's inputs up to this image size (128 x 128). On the
# CPU one pass of two images was 4 to 6% faster at 64 px, level at 256 px and 25% slower at 512 px
# (BENCHMARKS.md); larger images gain nothing from the bigger batch and lose cache locality.
FUSE_MAX_PIXELS = 128 * 128


# The order of SpaGanStep.losses(): total generator objective, its parts, the two D losses.
LOSS_NAMES = ("G", "G_gan", "cycle", "identity", "fm", "D_A", "D_B")


class NonFiniteLoss(SpaganError):
    """A loss became NaN or infinite; training stops and keeps the last checkpoint written before."""


class SpaGanStep:
    """Callable training step holding the networks, optimisers and image pools."""

    def __init__(self, nets: Networks, model_cfg: ModelConfig, train_cfg: TrainConfig,
                 opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
                 pool_A: ImagePool, pool_B: ImagePool,
                 autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 grad_sync: Callable[[list[torch.Tensor]], None] | None = None):
        self.nets, self.m, self.t = nets, model_cfg, train_cfg
        self.opt_G, self.opt_D = opt_G, opt_D
        self.pool_A, self.pool_B = pool_A, pool_B
        self.autocast = autocast
        self.grad_sync = grad_sync  # averages gradients across processes (multi-process training)
        self.params_G = list(nets.G.parameters()) + list(nets.F.parameters())
        self.params_D = list(nets.D_A.parameters()) + list(nets.D_B.parameters())

    def _scored(self, D: torch.nn.Module, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, attention map or None): one discriminator pass serving both."""
        if not self.m.attention:
            return D(img), None
        logits, amap = D.forward_with_attention(img)
        return logits, amap.detach() if self.m.attention_detach else amap

    def _map(self, D: torch.nn.Module, img: torch.Tensor) -> torch.Tensor | None:
        """Attention map only (identity inputs, which D does not otherwise score)."""
        if not self.m.attention:
            return None
        if self.m.attention_detach:
            with torch.no_grad():
                return D.attention(img)
        return D.attention(img)

    def _fuse(self, x: torch.Tensor) -> bool:
        """Whether to batch a generator's inputs into one pass (train.fuse_passes; auto: by image size)."""
        if self.t.fuse_passes == "auto":
            return x.shape[-2] * x.shape[-1] <= FUSE_MAX_PIXELS
        return self.t.fuse_passes == "on"

    def _translate(self, net: torch.nn.Module, sources: list[tuple[torch.Tensor, torch.Tensor | None]]
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(translation, features) of `net` for each (image, attention map): the attended input
        (Eq. 2), one concatenated pass when fusing, and the output composed as the translation
        (models.attention.blend_output: model.attention_blend keeps unattended pixels)."""
        inputs = [apply_attention(x, amap) for x, amap in sources]
        if len(inputs) == 1 or not self._fuse(inputs[0]):
            outputs = [net.forward_with_features(x) for x in inputs]
        else:
            out, feat = net.forward_with_features(torch.cat(inputs))
            sizes = [x.shape[0] for x in inputs]
            outputs = list(zip(out.split(sizes), feat.split(sizes)))
        return [(blend_output(out, x, amap, self.m.attention_blend), feat)
                for (out, feat), (x, amap) in zip(outputs, sources)]

    def __call__(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, float]:
        """Run one step on a batch of A and B images; returns the losses as floats (one
        device-to-host transfer); NonFiniteLoss when one is NaN or infinite."""
        losses = dict(zip(LOSS_NAMES, self.losses(real_a, real_b).tolist()))
        if (why := non_finite(losses)) is not None:
            raise NonFiniteLoss(why)
        return losses

    def losses(self, real_a: torch.Tensor, real_b: torch.Tensor) -> torch.Tensor:
        """Run one step; returns the losses (LOSS_NAMES order) as one float32 tensor on the
        device, without waiting for it: the caller fetches them, with whatever else it needs
        from the device, in a single transfer. Non-finite losses are not checked here: the
        step runs to the end (so every process joins every gradient all-reduce) and the caller
        must not keep weights from a step whose losses are not finite."""
        n, t = self.nets, self.t
        use_idt_pass = t.lambda_idt > 0 or (t.lambda_fm > 0 and t.fm_pairing == "identity")
        with self.autocast():
            # Real images: D logits kept (with graph) for the D step, maps attend G/F inputs.
            logit_real_a, attn_a = self._scored(n.D_A, real_a)
            logit_real_b, attn_b = self._scored(n.D_B, real_b)
            # First-level generator inputs: the forward input and (when used) the identity input
            # of each generator, run as one batch when fusing (instance norm is
            # per-sample, so the result is the same as two passes).
            g_src, f_src = [(real_a, attn_a)], [(real_b, attn_b)]
            if use_idt_pass:
                # Identity inputs: G gets y, F gets x; attended by the generator's source
                # discriminator (D_X for G) or raw, as CycleGAN (train.identity_input).
                attend_idt = t.identity_input == "attended"
                g_src.append((real_b, self._map(n.D_A, real_b) if attend_idt else None))
                f_src.append((real_a, self._map(n.D_B, real_a) if attend_idt else None))
            g_out, f_out = self._translate(n.G, g_src), self._translate(n.F, f_src)
            fake_b, feat_G_real = g_out[0]
            fake_a, feat_F_real = f_out[0]
            # Fakes: adversarial logits and the cycle-pass attention from the same pass.
            logit_fake_b, attn_fake_b = self._scored(n.D_B, fake_b)
            logit_fake_a, attn_fake_a = self._scored(n.D_A, fake_a)
            (rec_a, feat_F_fake), = self._translate(n.F, [(fake_b, attn_fake_b)])
            (rec_b, feat_G_fake), = self._translate(n.G, [(fake_a, attn_fake_a)])

            loss_gan = gan_loss(logit_fake_b, True, t.gan_mode) + gan_loss(logit_fake_a, True, t.gan_mode)
            loss_cyc = cycle_loss(rec_a, real_a) + cycle_loss(rec_b, real_b)
            loss_idt = torch.zeros((), device=real_a.device)
            loss_fm = torch.zeros((), device=real_a.device)
            if use_idt_pass:
                (idt_b, feat_G_idt), (idt_a, feat_F_idt) = g_out[1], f_out[1]
                loss_idt = identity_loss(idt_b, real_b) + identity_loss(idt_a, real_a)
            if t.lambda_fm > 0:
                if t.fm_pairing == "identity":
                    # Same generator, inputs sharing content: G(y) vs G(F(y)); F(x) vs F(G(x)).
                    loss_fm = feature_map_loss(feat_G_idt, feat_G_fake) + feature_map_loss(feat_F_idt, feat_F_fake)
                else:
                    # "attended", the paper figure's reading: each term compares two feature stacks
                    # of the SAME generator. G: x_a (G's forward pass) vs y'_a = A_{D_X}(F(y_a)) * F(y_a)
                    # (G's cycle pass); F: y_a (F's forward pass) vs x'_a (F's cycle pass).
                    loss_fm = feature_map_loss(feat_G_real, feat_G_fake) + feature_map_loss(feat_F_real, feat_F_fake)
            loss_G = loss_gan + t.lambda_cyc * loss_cyc + t.lambda_cyc * t.lambda_idt * loss_idt + t.lambda_fm * loss_fm
        self.opt_G.zero_grad(set_to_none=True)
        # inputs=: only G and F accumulate gradients (D is not stepped here), so D needs no
        # requires_grad toggling and keeps its real-image graph for the D step below.
        loss_G.backward(inputs=self.params_G, retain_graph=not self.m.attention_detach and self.m.attention)
        if self.grad_sync is not None:
            self.grad_sync(self.params_G)
        self.opt_G.step()

        with self.autocast():
            loss_D_b = 0.5 * (gan_loss(logit_real_b, True, t.gan_mode)
                              + gan_loss(n.D_B(self.pool_B.query(fake_b)), False, t.gan_mode))
            loss_D_a = 0.5 * (gan_loss(logit_real_a, True, t.gan_mode)
                              + gan_loss(n.D_A(self.pool_A.query(fake_a)), False, t.gan_mode))
            loss_D = loss_D_a + loss_D_b
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward(inputs=self.params_D)
        if self.grad_sync is not None:
            self.grad_sync(self.params_D)
        self.opt_D.step()
        return torch.stack([loss_G, loss_gan, loss_cyc, loss_idt, loss_fm, loss_D_a, loss_D_b]).detach().float()


def non_finite(losses: dict[str, float]) -> str | None:
    """Which objective went non-finite ('generator loss is nan (non-finite)'), or None."""
    if not math.isfinite(losses["G"]):
        return f"generator loss is {losses['G']} (non-finite)"
    loss_D = losses["D_A"] + losses["D_B"]
    if not math.isfinite(loss_D):
        return f"discriminator loss is {loss_D} (non-finite)"
    return None
