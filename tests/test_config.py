"""params.yaml loader: typed, frozen, unknown keys and wrong types rejected by name."""

import dataclasses

import pytest

from spagan.config import ConfigError, load_config
from tests.conftest import ROOT


def test_params_yaml_loads_and_is_frozen():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.model.ngf == 16 and cfg.train.image_size == 64  # the shipped CPU demo size
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0  # type: ignore[misc]


def test_dataclass_defaults_are_the_papers_cyclegan_settings():
    cfg = load_config(None)
    assert (cfg.model.ngf, cfg.model.n_blocks, cfg.model.ndf, cfg.model.n_layers_d) == (64, 9, 64, 3)
    assert (cfg.train.image_size, cfg.train.load_size, cfg.train.epochs, cfg.train.epochs_decay) == (256, 286, 100, 100)
    assert (cfg.train.lambda_cyc, cfg.train.lambda_idt, cfg.train.pool_size) == (10.0, 0.5, 50)


def test_dotted_overrides_are_parsed_and_typed():
    cfg = load_config(ROOT / "params.yaml", ["train.lambda_fm=0", "model.attention=false", "train.lr=1e-3"])
    assert cfg.train.lambda_fm == 0.0 and isinstance(cfg.train.lambda_fm, float)
    assert cfg.model.attention is False
    assert cfg.train.lr == pytest.approx(1e-3)


@pytest.mark.parametrize("override, message", [
    ("train.lamda_fm=0", "unknown key train.lamda_fm"),
    ("optim.lr=1", "unknown key optim"),
    ("train.batch_size=two", "train.batch_size: expected an integer"),
    ("model.attention=3", "model.attention: expected true or false"),
    ("train.gan_mode=wgan", "train.gan_mode: 'wgan' is not one of"),
    ("lambda_fm=1", "expected section.key"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "params.yaml", [override])


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("train:\n  lr: 0.1\n  epochz: 3\n")
    with pytest.raises(ConfigError, match=r"params.yaml: unknown key train.epochz"):
        load_config(p)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_config(tmp_path / "nope.yaml")


def test_on_off_switches_survive_yaml_booleans(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("train:\n  amp: off\n  channels_last: on\n  lr: 2e-4\n")
    cfg = load_config(p, ["train.amp=on"])
    assert cfg.train.amp == "on" and cfg.train.channels_last == "on"
    assert cfg.train.lr == 2e-4
