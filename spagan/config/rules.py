"""What each params.yaml key may hold beyond its type: ranges, allowed values, cross-field rules.

`spagan.config` checks types and choices while it builds the frozen dataclasses, then calls
:func:`check_config`, so the CLI, the DVC stages and the Dagster assets all refuse a bad setting
before any work starts. Every key has an entry in :data:`RULES` (an empty tuple means its type
or choices say everything), and a test keeps the table and the dataclasses in step.
A rule returns None when the value is allowed, else what is allowed: the error reads
``train.beta1=1.5: must be in [0, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from croniter import croniter

if TYPE_CHECKING:
    from spagan.config.schema import Config

Rule = Callable[[Any], "str | None"]


def _num(x: float) -> str:
    """A bound as people write it: 0, 0.5, 1e-08."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


@dataclass(frozen=True)
class Range:
    """low <= value <= high (either end may be open or absent); a float must also be finite.
    Kept as data, not a closure, so tests can draw values on both sides of each bound."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def text(self) -> str:
        """What is allowed: 'must be in [0, 1)', 'must be >= 1'."""
        if self.low is not None and self.high is not None:
            return (f"must be in {'(' if self.low_open else '['}{_num(self.low)}, "
                    f"{_num(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"must be {'>' if self.low_open else '>='} {_num(self.low)}"
        return f"must be {'<' if self.high_open else '<='} {_num(self.high)}"  # pragma: no cover - unused

    def __call__(self, value: Any) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.text} (a finite number)"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return self.text
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return self.text
        return None


def in_range(low: float | None = None, high: float | None = None, *, low_open: bool = False,
             high_open: bool = False) -> Range:
    """The rule low <= value <= high (bounds open where asked)."""
    return Range(low, high, low_open, high_open)


def count_or_auto(value: Any) -> str | None:
    """A worker count: 'auto' or >= 0."""
    return None if value == "auto" or value >= 0 else "must be auto or a count >= 0"


def non_empty(value: Any) -> str | None:
    return None if value.strip() else "must not be empty"


def inception_choice(value: Any) -> str | None:
    """torchvision, fid or a path to a state_dict file (whether it exists is checked on use)."""
    if value in ("torchvision", "fid") or value.endswith((".pth", ".pt")):
        return None
    return "must be torchvision, fid or a path to a .pth state_dict"


def weights_url(value: Any) -> str | None:
    """"" (the official address) or an http(s) or file URL of a mirror."""
    if value == "" or value.startswith(("https://", "http://", "file://")):
        return None
    return "must be empty (the official address) or an https://, http:// or file:// URL"


def cron(value: Any) -> str | None:
    """A 5-field cron string as Dagster's schedules accept it (Dagster vendors croniter and adds
    the same two checks: no seconds field, no 30th/31st of February)."""
    problem = "must be a 5-field cron expression such as '0 3 * * *' (minute hour day month weekday)"
    if not isinstance(value, str) or not croniter.is_valid(value):
        return problem
    fields = croniter.expand(value)[0]
    if len(fields) != 5:
        return problem
    if fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in (30, 31):
        return "must be a cron expression that fires: February has no 30th or 31st"
    return None


# The measures train.select_by may name, each with the direction that is better: only those a
# do-nothing model fails (the input returned unchanged scores 0 object translation and the
# source domain's object P(target); tests/test_eval_during_training.py checks each direction
# against the reference rows). Watched, never selected by: background L1 (the input unchanged is
# perfect), attention AUC (a property of D, not of the translation), the whole-image share (it
# saturates: on small sets the input unchanged can score 1.0, as the real counterpart does) and
# the hand-made feature MMD (on the demo the input unchanged scores 132, better than the trained
# model's 176 / 203, and on a few images it can rank the input above the real counterpart).
SELECTABLE = {"object_translation": "max", "object_domain_probability": "max", "kid_x100": "min",
              # the real-photo yardstick's calibrated P(target) (trained on trainA/trainB; no masks needed)
              "learned_domain_probability": "max"}
# What evaluation during training scores (each also the mean over both directions):
# spagan.evaluation.training_eval computes exactly these, eval_curve.csv has a column for each.
WATCHED_MEASURES = (*SELECTABLE, "success_share", "offline_mmd_x100", "background_l1", "attention_auc")


def selectable(value: Any) -> str | None:
    """train.select_by names a measure a do-nothing model fails."""
    return None if value in SELECTABLE else ("must be one of " + ", ".join(SELECTABLE) + " (measures a do-nothing "
                                             "model fails; the others are only watched)")


POSITIVE = in_range(0, low_open=True)
SEED = in_range(0, 2**32 - 1)  # numpy refuses negative seeds, torch.manual_seed those past 64 bits
AT_LEAST_0 = in_range(0)
AT_LEAST_1 = in_range(1)
SHARE = in_range(0, 1)

# Every key of params.yaml. Integers that count things start at 1; seeds are 32-bit; weights of
# loss terms start at 0 (0 switches the term off).
RULES: dict[str, tuple[Rule, ...]] = {
    "data.source": (),  # existence and place (inside data/raw/) are checked by `prepare`
    "data.demo_seed": (SEED,),
    "data.demo_size": (in_range(16),),  # the demo's shapes need room to stay clear of the border
    "data.demo_train_per_domain": (AT_LEAST_1,),
    "data.demo_test_per_domain": (AT_LEAST_1,),
    "data.demo_planted_duplicates": (AT_LEAST_0,),
    "data.demo_planted_broken": (AT_LEAST_0,),
    "data.min_size": (AT_LEAST_1,),
    "data.max_pixels": (AT_LEAST_1,),
    "data.phash_threshold": (in_range(0, 64),),  # Hamming distance between two 64-bit hashes
    "data.dedupe": (),  # drop | report: its choices say everything
    "data.min_images_per_split": (AT_LEAST_1,),
    "data.balance_max_ratio": (AT_LEAST_1,),  # larger / smaller domain: 1 is perfect balance
    "data.max_quarantine_fraction": (SHARE,),
    "model.ngf": (AT_LEAST_1,),
    "model.ndf": (AT_LEAST_1,),
    "model.n_blocks": (AT_LEAST_0,),
    "model.n_layers_d": (in_range(1, 8),),  # the attention needs a second-to-last layer; auto is resolved first
    "model.attention": (),
    "model.attention_detach": (),
    "model.attention_interp": (),
    "model.attention_features": (),
    "model.attention_blend": (),
    "train.seed": (SEED,),
    "train.image_size": (in_range(8),),  # two stride-2 convolutions leave image_size / 4 >= 2 px
    "train.load_size": (in_range(8),),
    "train.batch_size": (AT_LEAST_1,),
    "train.epochs": (AT_LEAST_0,),
    "train.epochs_decay": (AT_LEAST_0,),
    "train.max_steps": (AT_LEAST_0,),  # 0: run all epochs
    "train.lr": (POSITIVE,),
    "train.beta1": (in_range(0, 1, high_open=True),),  # Adam's moment decay rates
    "train.beta2": (in_range(0, 1, high_open=True),),
    "train.gan_mode": (),
    "train.lambda_cyc": (AT_LEAST_0,),
    "train.lambda_idt": (AT_LEAST_0,),
    "train.lambda_fm": (AT_LEAST_0,),
    "train.fm_pairing": (),
    "train.identity_input": (),
    "train.pool_size": (AT_LEAST_0,),  # 0: no pool, D sees the newest fakes
    "train.num_workers": (count_or_auto,),
    "train.amp": (),
    "train.channels_last": (),
    "train.fuse_passes": (),
    "train.compile": (),
    "train.eval_every": (AT_LEAST_0,),  # 0: no evaluation during training
    "train.eval_images": (in_range(2),),  # the distribution score needs two images per set
    "train.eval_split": (),  # holdout | train (the type check)
    "train.select_by": (selectable,),
    "train.publish": (),
    "watch.checkpoint_every": (AT_LEAST_1,),
    "watch.log_every": (AT_LEAST_1,),
    "watch.preview_every": (AT_LEAST_0,),  # 0: no previews
    "watch.preview_images": (AT_LEAST_1,),  # per direction and split
    "watch.preview_keep": (AT_LEAST_0,),  # 0: keep every preview
    "watch.tensorboard": (),  # a bool (the type check)
    "eval.seed": (SEED,),
    "eval.inception_weights": (inception_choice,),
    "eval.weights_dir": (),  # "" = torch hub's cache
    "eval.download_weights": (),  # a bool (the type check)
    "eval.weights_url": (weights_url,),
    "eval.kid_subsets": (AT_LEAST_1,),
    "eval.kid_subset_size": (in_range(2),),  # the unbiased MMD^2 needs two samples per set
    "eval.batch_size": (AT_LEAST_1,),
    "eval.gallery_size": (AT_LEAST_0,),  # 0: no gallery
    "eval.learned_classifier": (),  # a bool (the type check)
    "eval.learned_classifier_size": (in_range(16),),  # four stride-2 layers: 16 px is one cell
    "eval.learned_classifier_width": (AT_LEAST_1,),
    "eval.learned_classifier_epochs": (AT_LEAST_1,),
    "eval.regression_threshold": (AT_LEAST_0,),
    "eval.regression_share_drop": (SHARE,),
    "eval.regression_object_drop": (SHARE,),
    "eval.regression_domain_drop": (SHARE,),
    "eval.regression_distribution_rise": (AT_LEAST_0,),
    "eval.schedule_cron": (non_empty, cron),
}


# Cross-field rules: each returns (key, value, what is allowed) for the first key it refuses.
Problem = "tuple[str, Any, str] | None"


def _image_size(cfg: Config) -> Problem:
    t, m = cfg.train, cfg.model
    if t.image_size % 4:
        return "train.image_size", t.image_size, "must be a multiple of 4 (the generator halves it twice)"
    # Each of D's n_layers_d stride-2 layers halves the image, its last two layers take 1 px off
    # each, and instance norm needs more than one value: image_size / 2**n_layers_d >= 3.
    need = 3 * 2**m.n_layers_d
    if t.image_size < need:
        return ("train.image_size", t.image_size,
                f"must be >= {need} for model.n_layers_d={m.n_layers_d} (the PatchGAN needs 3 px after its "
                f"{m.n_layers_d} halvings)")
    return None


def _load_size(cfg: Config) -> Problem:
    t = cfg.train
    if t.load_size < t.image_size:
        return ("train.load_size", t.load_size,
                f"must be >= train.image_size ({t.image_size}): images are resized to load_size, then cropped")
    return None


def _schedule(cfg: Config) -> Problem:
    t = cfg.train
    if t.epochs + t.epochs_decay < 1:
        return "train.epochs", t.epochs, "must be >= 1 when train.epochs_decay is 0 (nothing would be trained)"
    return None


def _pixels(cfg: Config) -> Problem:
    d = cfg.data
    if d.max_pixels < d.min_size**2:
        return ("data.max_pixels", d.max_pixels,
                f"must be >= data.min_size squared ({d.min_size**2}), or every image is refused")
    return None


def _demo_size(cfg: Config) -> Problem:
    d = cfg.data
    if d.source == "" and d.demo_size < d.min_size:
        return ("data.demo_size", d.demo_size,
                f"must be >= data.min_size ({d.min_size}) while the demo is the source, or every demo image "
                "is quarantined as too small")
    return None


def _publish(cfg: Config) -> Problem:
    t = cfg.train
    if t.publish == "best" and not t.eval_every:
        return ("train.publish", t.publish,
                "must be last while train.eval_every is 0 (no evaluation during training picks a best checkpoint)")
    return None


CROSS_RULES: tuple[Callable[[Config], Any], ...] = (_image_size, _load_size, _schedule, _pixels, _demo_size,
                                                   _publish)


def show(value: Any) -> str:
    """A value as it would be written after --set key=: 1.5, true, auto, '' , '0 3 * *'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # quoted (and escaped) where the bare text would be unclear or span lines
        return value if value.isprintable() and value and " " not in value else repr(value)
    if isinstance(value, float):  # ints were widened to float: show -5, not -5.0
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def problems(cfg: Config) -> list[tuple[str, str]]:
    """Every refused setting of a typed config as (key, one-line message); empty when all are allowed."""
    out = []
    values = {f"{section}.{key}": v for section, keys in cfg.to_dict().items() for key, v in keys.items()}
    for key, value in values.items():
        for rule in RULES[key]:
            text = rule(value)
            if text:
                out.append((key, f"{key}={show(value)}: {text}"))
                break
    if not out:  # cross-field rules assume each value is in range
        for rule in CROSS_RULES:
            found = rule(cfg)
            if found:
                key, value, text = found
                out.append((key, f"{key}={show(value)}: {text}"))
    return out
