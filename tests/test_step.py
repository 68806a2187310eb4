"""The SPA-GAN step: attention wiring, CycleGAN switch, shared D passes, finite losses."""

import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from spagan.config import load_config
from spagan.models import build_networks
from spagan.training.image_pool import ImagePool
from spagan.training.step import LOSS_NAMES, NonFiniteLoss, SpaGanStep, non_finite
from tests.conftest import ROOT, TINY_OVERRIDES


def make_step(*overrides):
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + list(overrides))
    torch.manual_seed(0)
    nets = build_networks(cfg.model)
    opt_G = torch.optim.Adam(list(nets.G.parameters()) + list(nets.F.parameters()), lr=2e-4)
    opt_D = torch.optim.Adam(list(nets.D_A.parameters()) + list(nets.D_B.parameters()), lr=2e-4)
    step = SpaGanStep(nets, cfg.model, cfg.train, opt_G, opt_D, ImagePool(2), ImagePool(2))
    return step, nets


def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, torch.rand(1, 3, 32, 32, generator=g) * 2 - 1


@contextlib.contextmanager
def count_calls(module, name):
    """Count calls of module.<name> (forward / forward_with_attention / attention)."""
    calls = []
    original = getattr(module, name)

    def wrapped(*a, **k):
        calls.append(a[0].shape)
        return original(*a, **k)

    setattr(module, name, wrapped)
    try:
        yield calls
    finally:
        delattr(module, name)


def grads_after_generator_update(step, nets, real_a, real_b):
    """Run the step but keep a copy of the G/F grads (they are set by the G backward)."""
    grads = {}
    original = step.opt_G.step

    def spy():
        for name in ("G", "F"):
            grads[name] = [p.grad for p in getattr(nets, name).parameters()]
        original()

    step.opt_G.step = spy
    losses = step(real_a, real_b)
    return losses, grads


@pytest.mark.parametrize("overrides", [[], ["train.fm_pairing=attended"], ["train.gan_mode=vanilla"],
                                       ["model.attention_detach=false"], ["model.attention_features=pre_act"]])
def test_every_loss_finite_and_gradients_reach_both_generators(overrides):
    step, nets = make_step(*overrides)
    losses, grads = grads_after_generator_update(step, nets, *batch())
    assert set(losses) == {"G", "G_gan", "cycle", "identity", "fm", "D_A", "D_B"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["fm"] > 0
    for name in ("G", "F"):
        assert all(g is not None and torch.isfinite(g).all() for g in grads[name])
        assert sum(g.abs().sum() for g in grads[name]) > 0


def test_discriminators_get_gradients_and_change():
    step, nets = make_step()
    before = [p.detach().clone() for p in nets.D_A.parameters()]
    step(*batch())
    assert any(not torch.equal(b, p) for b, p in zip(before, nets.D_A.parameters()))


def test_generator_inputs_are_attended_by_source_discriminator():
    step, nets = make_step()
    real_a, real_b = batch()
    seen = []
    nets.G.encoder.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    expected_attn = nets.D_A.attention(real_a).detach()
    expected_idt = nets.D_A.attention(real_b).detach()  # before the step changes D_A
    step(real_a, real_b)
    # First G call is the forward pass G(A_{D_X}(x) * x), batched with the identity input G(A_{D_X}(y) * y).
    assert seen[0].shape[0] == 2
    torch.testing.assert_close(seen[0][:1], expected_attn * real_a)
    torch.testing.assert_close(seen[0][1:], expected_idt * real_b)
    assert not torch.allclose(seen[0][:1], real_a)


def test_cyclegan_switch_feeds_raw_inputs_and_drops_fm():
    step, nets = make_step("model.attention=false", "train.lambda_fm=0")
    real_a, real_b = batch()
    seen = []
    nets.G.encoder.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    with count_calls(nets.D_A, "forward_with_attention") as fwa, count_calls(nets.D_A, "attention") as att:
        losses = step(real_a, real_b)
    torch.testing.assert_close(seen[0], torch.cat([real_a, real_b]))  # no attention product
    assert losses["fm"] == 0.0
    assert fwa == [] and att == []  # no attention computed at all


def test_spagan_reuses_discriminator_passes():
    """Per step each D runs: real (+map), fake (+map), pooled fake; only the identity map is extra."""
    counts = {}
    for label, overrides in (("spagan", []), ("cyclegan", ["model.attention=false", "train.lambda_fm=0"])):
        step, nets = make_step(*overrides)
        total = 0
        with count_calls(nets.D_A, "forward") as fwd, count_calls(nets.D_A, "forward_with_attention") as fwa, \
                count_calls(nets.D_A, "attention") as att:
            step(*batch())
        total = len(fwd) + len(fwa) + len(att)
        counts[label] = (len(fwd), len(fwa), len(att), total)
    assert counts["cyclegan"] == (3, 0, 0, 3)
    assert counts["spagan"] == (1, 2, 1, 4)  # +1 map: G's identity input y, attended by D_X


def test_non_finite_loss_is_reported_after_the_step_in_one_transfer():
    # The check runs once, after the D step, on the losses fetched for the log (no host sync
    # between forward and backward); train() never checkpoints the weights of such a step.
    step, nets = make_step()
    real_a, real_b = batch()
    with pytest.raises(NonFiniteLoss, match="generator loss is nan .non-finite"):
        step(real_a * float("nan"), real_b)
    values = dict(zip(LOSS_NAMES, step.losses(*batch()).tolist()))
    assert non_finite(values) is not None  # the NaN update above poisoned the weights
    assert non_finite({**dict.fromkeys(LOSS_NAMES, 1.0), "D_B": float("inf")}) == \
        "discriminator loss is inf (non-finite)"


def test_a_step_transfers_nothing_to_the_host(monkeypatch):
    """SpaGanStep.losses() leaves its result on the device: no .item(), .tolist() or tensor
    truth test inside the step (each one a GPU sync). Adam's step counters are left out: they
    are CPU tensors on a GPU too (test_train_state checks that), so reading them costs nothing."""
    step, nets = make_step()
    step(*batch())  # Adam state exists from here on; the pool (size 2) is not full yet
    counters = {id(s["step"]) for opt in (step.opt_G, step.opt_D) for s in opt.state.values()}
    reads = []

    class Reads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._local_scalar_dense.default and id(args[0]) not in counters:
                reads.append(func)
            return func(*args, **(kwargs or {}))

    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: reads.append("tolist") or original(self))
    with Reads():
        out = step.losses(*batch())
    assert reads == [] and out.shape == (len(LOSS_NAMES),)
@pytest.mark.parametrize("overrides", [[], ["model.attention=false", "train.lambda_fm=0"], ["train.lambda_idt=0"],
                                       ["model.attention_detach=false"]])
def test_fused_generator_passes_match_separate_passes(overrides):
    """fuse_passes batches each generator's forward and identity inputs into one pass; instance
    norm is per-sample, so the losses and the updated networks' outputs equal the unfused step's up
    to rounding."""
    results = {}
    probe = batch()[0].flip(-1)
    for fuse in ("on", "off"):
        step, nets = make_step(*overrides, f"train.fuse_passes={fuse}")
        g_calls = []
        nets.G.encoder.register_forward_hook(lambda m, i, o, calls=g_calls: calls.append(i[0].shape[0]))
        losses = [step(*batch()) for _ in range(2)]
        with torch.no_grad():
            outputs = {k: m(probe) for k, m in nets.by_name().items()}
        results[fuse] = (losses, outputs, g_calls)
    (fused, out_fused, calls_fused), (sep, out_sep, calls_sep) = results["on"], results["off"]
    for a, b in zip(fused, sep):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k
    # Compare what the updated networks compute, not raw weights: a conv bias in front of instance
    # norm has a mathematically zero gradient, and Adam turns its rounding noise into full steps.
    for name in out_fused:
        torch.testing.assert_close(out_fused[name], out_sep[name], rtol=1e-2, atol=2e-3)
    if "train.lambda_idt=0" in overrides and "train.lambda_fm=0" not in overrides:
        return  # the FM loss (identity pairing) still needs the identity pass
    assert len(calls_fused) < len(calls_sep)  # fewer, larger generator passes


def test_fuse_auto_batches_small_images_only():
    step, _ = make_step()  # train.fuse_passes: auto (params.yaml)
    assert step.t.fuse_passes == "auto"
    assert step._fuse(torch.empty(1, 3, 128, 128)) and step._fuse(torch.empty(1, 3, 64, 64))
    assert not step._fuse(torch.empty(1, 3, 256, 256))
    forced, _ = make_step("train.fuse_passes=on")
    assert forced._fuse(torch.empty(1, 3, 256, 256))


def test_mechanism_tests_run_the_papers_reading_whatever_params_ship(tmp_path):
    """The pinned overrides give the paper's SPA-GAN even from a params file that ships departures."""
    import re

    departed = re.sub(r"attention_features: \w+", "attention_features: pre_act", (ROOT / "params.yaml").read_text())
    departed = re.sub(r"attention_blend: \w+", "attention_blend: true", departed)
    (tmp_path / "params.yaml").write_text(departed)
    assert load_config(tmp_path / "params.yaml").model.attention_blend is True  # the departure is real
    for params in (ROOT / "params.yaml", tmp_path / "params.yaml"):
        model = load_config(params, TINY_OVERRIDES).model
        assert (model.attention, model.attention_features, model.attention_blend, model.attention_detach,
                model.attention_interp) == (True, "post_act", False, True, "bilinear")


def feature_map_terms(step, nets, monkeypatch, real_a, real_b):
    """Run one step; return, for each feature map term, the two (generator, input) pairs whose
    feature stacks it compared. Each generator pass records its input and the storage of the
    features it returned (a fused pass's split keeps the storage, so fuse_passes=off is used)."""
    import spagan.training.step as step_module

    produced = {}  # storage pointer of a feature stack -> (generator name, its input)
    for name in ("G", "F"):
        net = getattr(nets, name)
        original = net.forward_with_features

        def wrapped(x, name=name, original=original):
            out, feat = original(x)
            produced[feat.untyped_storage().data_ptr()] = (name, x.detach().clone())
            return out, feat

        monkeypatch.setattr(net, "forward_with_features", wrapped)
    terms = []
    original_loss = step_module.feature_map_loss

    def recording(feat_real, feat_fake):
        terms.append(tuple(produced[f.untyped_storage().data_ptr()] for f in (feat_real, feat_fake)))
        return original_loss(feat_real, feat_fake)

    monkeypatch.setattr(step_module, "feature_map_loss", recording)
    step(real_a, real_b)
    return terms


def test_attended_pairing_compares_two_stacks_of_the_same_generator(monkeypatch):
    """The paper figure's reading (train.fm_pairing=attended): G's features of x_a against G's
    features of y'_a = A_{D_X}(F(y_a)) * F(y_a), and F's of y_a against F's of x'_a. The old wiring
    compared G's features of x_a with F's features of x'_a (two different networks)."""
    step, nets = make_step("train.fm_pairing=attended", "train.fuse_passes=off")
    real_a, real_b = batch()
    attn_a, attn_b = nets.D_A.attention(real_a).detach(), nets.D_B.attention(real_b).detach()
    with torch.no_grad():  # what G's and F's cycle passes will get, from the networks before the step
        fake_a = nets.F(attn_b * real_b)
        fake_b = nets.G(attn_a * real_a)
        y_prime_a = nets.D_A.attention(fake_a) * fake_a
        x_prime_a = nets.D_B.attention(fake_b) * fake_b
    terms = feature_map_terms(step, nets, monkeypatch, real_a, real_b)
    assert [(a[0], b[0]) for a, b in terms] == [("G", "G"), ("F", "F")]
    (g_real, g_fake), (f_real, f_fake) = terms
    torch.testing.assert_close(g_real[1], attn_a * real_a)
    torch.testing.assert_close(g_fake[1], y_prime_a)
    torch.testing.assert_close(f_real[1], attn_b * real_b)
    torch.testing.assert_close(f_fake[1], x_prime_a)


def test_identity_pairing_compares_the_identity_input_with_the_cycle_input(monkeypatch):
    """The default pairing (aligned content): G(y_a) vs G(y'_a), F(x_a) vs F(x'_a)."""
    step, nets = make_step("train.fuse_passes=off")
    real_a, real_b = batch()
    idt_b, idt_a = nets.D_A.attention(real_b).detach() * real_b, nets.D_B.attention(real_a).detach() * real_a
    terms = feature_map_terms(step, nets, monkeypatch, real_a, real_b)
    assert [(a[0], b[0]) for a, b in terms] == [("G", "G"), ("F", "F")]
    torch.testing.assert_close(terms[0][0][1], idt_b)
    torch.testing.assert_close(terms[1][0][1], idt_a)
    assert not torch.allclose(terms[0][1][1], idt_b)  # the second stack is the cycle pass's


# attended + fused is test_generator_inputs_are_attended_by_source_discriminator's case.
@pytest.mark.parametrize("identity_input,fuse", [("attended", "off"), ("raw", "on"), ("raw", "off")])
def test_identity_input_switch_sets_what_reaches_the_identity_pass(identity_input, fuse):
    """train.identity_input: attended gives G A_{D_X}(y) * y (and F A_{D_Y}(x) * x); raw gives y
    and x, as CycleGAN; fused or not, the forward inputs stay attended."""
    step, nets = make_step(f"train.identity_input={identity_input}", f"train.fuse_passes={fuse}")
    real_a, real_b = batch()
    attn = {"A": nets.D_A.attention(real_a).detach(), "B": nets.D_B.attention(real_b).detach()}
    idt_map = {"G": nets.D_A.attention(real_b).detach(), "F": nets.D_B.attention(real_a).detach()}
    seen = {"G": [], "F": []}
    for name in seen:
        getattr(nets, name).encoder.register_forward_hook(
            lambda m, i, o, calls=seen[name]: calls.append(i[0].detach().clone()))
    with count_calls(nets.D_A, "attention") as maps:
        step(real_a, real_b)
    first = {name: calls[0] if fuse == "on" else torch.cat(calls[:2]) for name, calls in seen.items()}
    for name, real, forward_map, other in (("G", real_b, attn["A"], real_a), ("F", real_a, attn["B"], real_b)):
        torch.testing.assert_close(first[name][:1], forward_map * other)  # the forward input
        expected = idt_map[name] * real if identity_input == "attended" else real
        torch.testing.assert_close(first[name][1:], expected)
    assert len(maps) == (1 if identity_input == "attended" else 0)  # raw: no identity map computed
