"""Typed configuration: params.yaml -> frozen dataclasses.

One file (params.yaml) holds every hyperparameter. `load_config` reads it, applies dotted
overrides (``train.lambda_fm=0``) and checks every key, type, range and cross-field rule
(spagan.config.rules), so a typo or an impossible value is a one-line error that names the key,
the value and what is allowed (``train.beta1=1.5: must be in [0, 1)``) before any work starts,
instead of a silently ignored setting or a traceback deep in training.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import yaml

from spagan.config.geometry import resolve_n_layers_d
from spagan.config.rules import problems, show
from spagan.config.schema import Config, WatchConfig
from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_text


class ConfigError(SpaganError, ValueError):
    """A params file or override is invalid; the message names the key (also in `.key`, when one)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _check_value(key: str, value: Any, tp: Any) -> Any:
    """Return `value` checked (and widened int->float) against the annotation `tp`."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if isinstance(value, bool) and {"on", "off"} <= set(allowed):
            value = "on" if value else "off"  # YAML 1.1 reads bare on/off as booleans
        if isinstance(value, bool) or value not in allowed:
            raise _refuse(key, value, f"must be one of {', '.join(map(str, allowed))}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 (PyYAML) reads 2e-4 (no dot) as a string; accept it as the number it is.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(key, value, "must be a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(key, value, "must be an integer")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _refuse(key, value, "must be true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _refuse(key, value, "must be a string")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _check_value(key, value, arg)
            except ConfigError:
                continue
        raise _refuse(key, value, "must be " + " or ".join(_describe(arg) for arg in typing.get_args(tp)))
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover


def _refuse(key: str, value: Any, allowed: str) -> ConfigError:
    """The one-line error for a refused value: ``train.beta1=1.5: must be in [0, 1)``."""
    return ConfigError(f"{key}={show(value)}: {allowed}", key=key)


def _describe(tp: Any) -> str:
    """How an error message names a type: 'an integer', 'auto'."""
    if typing.get_origin(tp) is Literal:
        return " or ".join(map(str, typing.get_args(tp)))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _build(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'params'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    moved = [k for k in unknown if prefix == "train." and k in _WATCH_KEYS]
    if moved:
        raise ConfigError(f"train.{moved[0]} is now watch.{moved[0]}: keys that only watch a run (logging, previews, "
                          "TensorBoard, checkpoint cadence) live in the watch: section, which the DVC train stage "
                          "does not read, so changing them retrains nothing (docs/dvc.md)", key=f"train.{moved[0]}")
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(prefix + str(k) for k in unknown)} "
            f"(known: {', '.join(sorted(names))})"
        )
    kwargs = {}
    for name, value in raw.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _check_value(prefix + name, value, tp)
    return cls(**kwargs)


def parse_overrides(overrides: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn ``["train.lambda_fm=0", ...]`` (or a flat dict) into a nested dict; values parsed as YAML."""
    if not overrides:
        return {}
    items: list[tuple[str, Any]]
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r}: expected section.key=value")
            key, text = item.split("=", 1)
            try:
                value = yaml.safe_load(text) if text.strip() else ""
            except yaml.YAMLError:
                value = text  # not YAML (a cron string starts with `*`, an alias): the text as written
            items.append((key.strip(), value))
    nested: dict[str, Any] = {}
    for key, value in items:
        parts = key.split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"override {key!r}: expected section.key (for example train.lambda_fm)")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part} is not a section")
        node[parts[-1]] = value
    return nested


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


_WATCH_KEYS = frozenset(f.name for f in dataclasses.fields(WatchConfig))


def config_from_stored(raw: Mapping[str, Any]) -> Config:
    """A Config from the config a checkpoint or model file stored. Files written before the
    `watch:` section existed hold its keys in `train`; they are moved, so older runs still resume
    and older models still load."""
    raw = {k: dict(v) if isinstance(v, Mapping) else v for k, v in dict(raw or {}).items()}
    train = raw.get("train")
    if isinstance(train, dict):
        watch = dict(raw.get("watch") or {})
        for key in _WATCH_KEYS & set(train):
            watch.setdefault(key, train.pop(key))
        if watch:
            raw["watch"] = watch
    return config_from_dict(raw)


def config_from_dict(raw: Mapping[str, Any], overrides: Sequence[str] | Mapping[str, Any] | None = None) -> Config:
    """Build a checked Config from a nested dict plus optional dotted overrides: types, choices,
    ranges and cross-field rules (spagan.config.rules); the first refused key raises ConfigError."""
    cfg = resolved(_build(Config, _merge(dict(raw or {}), parse_overrides(overrides)), ""))
    found = problems(cfg)
    if found:
        key, message = found[0]
        raise ConfigError(message, key=key)
    return cfg


def resolved(cfg: Config) -> Config:
    """`cfg` with its `auto` geometry resolved at the training size (model.n_layers_d), so that
    every reader (networks, checkpoints, lineage, plans) gets the int that runs."""
    n_layers_d = resolve_n_layers_d(cfg.model.n_layers_d, cfg.train.image_size)
    if n_layers_d == cfg.model.n_layers_d:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, n_layers_d=n_layers_d))


def load_config(
    path: str | Path | None = "params.yaml", overrides: Sequence[str] | Mapping[str, Any] | None = None
) -> Config:
    """Read params.yaml (or only defaults if `path` is None) and apply dotted overrides.

    Raises ConfigError naming the file and key on a missing file, bad YAML, an unknown key
    or a wrong type.
    """
    raw: Any = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: params file not found")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {_yaml_problem(exc)}") from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{p}: expected a mapping of sections at the top level")
    try:
        return config_from_dict(raw, overrides)
    except ConfigError as exc:
        # Name the file only when the refused key came from it, not from an override.
        from_file = path is not None and (exc.key is None or exc.key not in _flat_keys(parse_overrides(overrides)))
        raise ConfigError(f"{path}: {exc}" if from_file else str(exc), key=exc.key) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: ``line 3, column 5: mapping values are not allowed``."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(exc).split())


def _flat_keys(nested: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Dotted keys of a nested override dict: {"train": {"lr": 1}} -> {"train.lr"}."""
    out: set[str] = set()
    for k, v in nested.items():
        out |= _flat_keys(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}"}
    return out


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (next to a run, for the record), atomically."""
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
