"""Property-based: for every params key, invalid values of each kind (wrong type, outside the range,
not a choice, not finite) are refused by every command with exit 2, one line on stderr naming the
key, no traceback and nothing written; values on and inside the bounds are accepted.

The strategies are built from the dataclass types and the rule table, so a new key is covered
as soon as it has a type and an entry in spagan.config.rules.RULES."""

import dataclasses
import math
import subprocess
import sys
import typing

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spagan.cli import main
from spagan.config import Config, ConfigError, load_config
from spagan.config.rules import RULES, Range
from tests.conftest import ROOT

PARAMS = ROOT / "params.yaml"


def field_types() -> dict[str, typing.Any]:
    """Every key of params.yaml with its annotation: {"train.lr": float, ...}."""
    out = {}
    for name, section in typing.get_type_hints(Config).items():
        hints = typing.get_type_hints(section)
        out.update({f"{name}.{f.name}": hints[f.name] for f in dataclasses.fields(section)})
    return out


TYPES = field_types()
KEYS = sorted(TYPES)
# Keys that a cross-field rule ties to another: drawn inside their own range they may still be
# refused in context, so their valid side is covered by explicit boundary cases below.
CROSS_KEYS = {"data.min_size", "data.max_pixels", "data.demo_size", "model.n_layers_d", "train.image_size",
              "train.load_size", "train.epochs", "train.epochs_decay"}
# Value-level rules that are not ranges: the values they refuse.
SPECIAL_INVALID = {
    "eval.schedule_cron": st.sampled_from(["not-a-cron", "", "61 * * * *", "* * * *", "* * * * * *",
                                           "0 0 30 2 *", "0 3 * * funday"]),
    "eval.inception_weights": st.text(min_size=1).filter(
        lambda t: t not in ("torchvision", "fid") and not t.endswith((".pth", ".pt"))),
}


def as_text(value: typing.Any) -> str:
    """`value` written so that --set key=<text> reads back exactly `value` (YAML flow style)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


def numbers_outside(rule: Range, integral: bool) -> st.SearchStrategy:
    """Numbers on the wrong side of either bound (an open bound itself included)."""
    parts = []
    step = 1 if integral else 1e-6
    if rule.low is not None:
        top = rule.low if rule.low_open else rule.low - step
        parts.append(st.integers(max_value=math.floor(top)) if integral
                     else st.floats(max_value=top, allow_nan=False, allow_infinity=False))
    if rule.high is not None:
        bottom = rule.high if rule.high_open else rule.high + step
        parts.append(st.integers(min_value=math.ceil(bottom)) if integral
                     else st.floats(min_value=bottom, allow_nan=False, allow_infinity=False))
    if not integral:
        parts.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.one_of(parts)


NOT_A_NUMBER = st.one_of(st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
                         st.text(min_size=1).filter(lambda t: _not_float(t)))


def _not_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def invalid_values(key: str) -> st.SearchStrategy:
    """Every kind of value `key` must refuse."""
    tp = TYPES[key]
    ranges = [r for r in RULES[key] if isinstance(r, Range)]
    kinds = [SPECIAL_INVALID[key]] if key in SPECIAL_INVALID else []
    if tp is int:
        kinds += [st.floats(allow_nan=False).filter(lambda f: not f.is_integer()), st.booleans(), st.text(),
                  st.none(), st.lists(st.integers(), max_size=2)]
        kinds += [numbers_outside(r, integral=True) for r in ranges]
    elif tp is float:
        kinds += [NOT_A_NUMBER] + [numbers_outside(r, integral=False) for r in ranges]
    elif tp is bool:
        kinds += [st.integers(), st.text(), st.none(), st.floats(allow_nan=False)]
    elif tp is str:
        kinds += [st.integers(), st.booleans(), st.floats(allow_nan=False), st.none(), st.lists(st.text(), max_size=2)]
    elif typing.get_origin(tp) is typing.Literal:
        choices = typing.get_args(tp)
        on_off = {"on", "off"} <= set(choices)  # YAML's on/off booleans are read as the switch
        kinds += [st.text().filter(lambda t: t not in choices), st.integers(), st.none()]
        if not on_off:
            kinds.append(st.booleans())
    else:  # int | "auto" (train.num_workers)
        kinds += [st.text().filter(lambda t: t != "auto"), st.integers(max_value=-1), st.booleans(),
                  st.floats(allow_nan=False).filter(lambda f: not f.is_integer()), st.none()]
    return st.one_of(kinds)


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_invalid_values_are_refused_by_every_command(key, data, tmp_path, capsys):
    value = data.draw(invalid_values(key), label="value")
    command = data.draw(st.sampled_from(["train", "prepare", "evaluate"]), label="command")
    out, missing = tmp_path / "out", tmp_path / "missing"
    args = {"train": ["--data", missing, "--out", out],
            "prepare": ["--source", missing, "--out", out],
            "evaluate": ["--checkpoint", missing, "--data", missing, "--out", out]}[command]
    code = main([command, "--params", str(PARAMS), *map(str, args), "--set", f"{key}={as_text(value)}"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"spagan {command}: error: {key}="), captured.err
    assert captured.out == "" and not out.exists()


def inside(rule: Range, integral: bool) -> st.SearchStrategy:
    """Values on or inside the bounds (closed bounds themselves drawn often by Hypothesis)."""
    low, high = rule.low, rule.high
    if integral:
        lo = None if low is None else int(low) + (1 if rule.low_open else 0)
        hi = None if high is None else int(high) - (1 if rule.high_open else 0)
        return st.integers(min_value=lo, max_value=hi)
    return st.floats(min_value=low, max_value=high, exclude_min=rule.low_open, exclude_max=rule.high_open,
                     allow_nan=False, allow_infinity=False)


RANGED = [k for k in KEYS if k not in CROSS_KEYS and any(isinstance(r, Range) for r in RULES[k])]


@pytest.mark.parametrize("key", RANGED)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_values_inside_the_range_are_accepted(key, data):
    rule = next(r for r in RULES[key] if isinstance(r, Range))
    value = data.draw(inside(rule, integral=TYPES[key] is int), label="value")
    cfg = load_config(PARAMS, [f"{key}={as_text(value)}"])
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) == value


# Bounds of the keys tied together by cross-field rules, each with the companions that make it valid.
BOUNDARIES = [
    ["train.image_size=8", "train.load_size=8", "model.n_layers_d=1"],
    ["train.image_size=768", "train.load_size=768", "model.n_layers_d=8"],
    ["train.image_size=24", "train.load_size=24", "model.n_layers_d=3"],
    ["train.epochs=0", "train.epochs_decay=1"], ["train.epochs=1", "train.epochs_decay=0"],
    ["data.min_size=1", "data.max_pixels=1"], ["data.min_size=32", "data.max_pixels=1024"],
    ["data.demo_size=16", "data.min_size=16"], ["data.demo_size=16", "data.min_size=64", "data.source=x.zip"],
]


@pytest.mark.parametrize("overrides", BOUNDARIES, ids=[o[0] for o in BOUNDARIES])
def test_cross_field_boundaries_are_accepted(overrides):
    load_config(PARAMS, overrides)


@pytest.mark.parametrize("overrides", [
    ["train.image_size=20", "train.load_size=24"], ["train.load_size=60"], ["train.epochs=0", "train.epochs_decay=0"],
    ["data.min_size=32", "data.max_pixels=1023"], ["data.demo_size=16"],
], ids=lambda o: o[0])
def test_cross_field_rules_refuse_just_past_the_boundary(overrides):
    with pytest.raises(ConfigError):
        load_config(PARAMS, overrides)


@pytest.mark.parametrize("override", ["train.beta1=1.5", "eval.schedule_cron=not-a-cron"])
def test_the_real_command_exits_2_with_one_line_and_no_traceback(override, tmp_path):
    res = subprocess.run([sys.executable, "-m", "spagan", "train", "--params", str(PARAMS), "--data", str(tmp_path),
                          "--out", str(tmp_path / "run"), "--set", override], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [f"spagan train: error: {res.stderr.split('error: ', 1)[1].strip()}"]
    assert res.stderr.startswith(f"spagan train: error: {override}") and "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists()
