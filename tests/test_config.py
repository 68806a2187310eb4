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
    ("train.batch_size=two", "train.batch_size=two: must be an integer"),
    ("model.attention=3", "model.attention=3: must be true or false"),
    ("train.gan_mode=wgan", "train.gan_mode=wgan: must be one of lsgan, vanilla"),
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


# Every case of issue 12, with the exact one-line message (the key, the value, what is allowed).
REFUSED = [
    (["train.batch_size=0"], "train.batch_size=0: must be >= 1"),
    (["train.lr=-1"], "train.lr=-1: must be > 0"),
    (["model.ngf=0"], "model.ngf=0: must be >= 1"),
    (["train.lambda_cyc=-5"], "train.lambda_cyc=-5: must be >= 0"),
    (["train.lambda_fm=-1"], "train.lambda_fm=-1: must be >= 0"),
    (["train.epochs=0", "train.epochs_decay=0"],
     "train.epochs=0: must be >= 1 when train.epochs_decay is 0 (nothing would be trained)"),
    (["train.beta1=1.5"], "train.beta1=1.5: must be in [0, 1)"),
    (["train.pool_size=-1"], "train.pool_size=-1: must be >= 0"),
    (["model.n_blocks=-1"], "model.n_blocks=-1: must be >= 0"),
    (["watch.checkpoint_every=0"], "watch.checkpoint_every=0: must be >= 1"),
    (["eval.kid_subsets=0"], "eval.kid_subsets=0: must be >= 1"),
    (["data.phash_threshold=65"], "data.phash_threshold=65: must be in [0, 64]"),
    (["eval.schedule_cron=not-a-cron"], "eval.schedule_cron=not-a-cron: must be a 5-field cron expression such as "
                                        "'0 3 * * *' (minute hour day month weekday)"),
    (["train.load_size=60"], "train.load_size=60: must be >= train.image_size (64): images are resized to "
                             "load_size, then cropped"),
    (["train.image_size=66", "train.load_size=72"],
     "train.image_size=66: must be a multiple of 4 (the generator halves it twice)"),
    (["train.image_size=20", "train.load_size=72"],
     "train.image_size=20: must be >= 24 for model.n_layers_d=3 (the PatchGAN needs 3 px after its 3 halvings)"),
    (["train.lr=.inf"], "train.lr=inf: must be > 0 (a finite number)"),
    (["eval.schedule_cron=0 0 30 2 *"],
     "eval.schedule_cron='0 0 30 2 *': must be a cron expression that fires: February has no 30th or 31st"),
    (["train.num_workers=-1"], "train.num_workers=-1: must be auto or a count >= 0"),
    (["data.max_pixels=100"], "data.max_pixels=100: must be >= data.min_size squared (1024), or every image "
                              "is refused"),
]


@pytest.mark.parametrize("overrides, message", REFUSED, ids=[c[0][0] for c in REFUSED])
def test_every_bad_setting_is_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "params.yaml", overrides)
    assert str(info.value) == message  # an override: the message does not blame the file


def test_a_bad_value_in_the_file_names_the_file(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("train:\n  beta1: 1.5\n")
    with pytest.raises(ConfigError, match=r"^.*params.yaml: train.beta1=1.5: must be in \[0, 1\)$"):
        load_config(p)


@pytest.mark.parametrize("overrides", [
    ["train.beta1=0", "train.beta2=0.9999"], ["data.phash_threshold=0"], ["data.phash_threshold=64"],
    ["train.epochs=0", "train.epochs_decay=1"], ["train.pool_size=0", "model.n_blocks=0", "train.lambda_cyc=0"],
    ["train.image_size=24", "train.load_size=24"], ["eval.schedule_cron=@daily"], ["eval.schedule_cron=*/15 * * * 1-5"],
    ["eval.kid_subset_size=2", "eval.gallery_size=0", "eval.regression_share_drop=1"],
    ["train.lr=1e30"], ["train.num_workers=0"], ["eval.inception_weights=weights/pt_inception.pth"],
])
def test_boundary_values_are_accepted(overrides):
    load_config(ROOT / "params.yaml", overrides)


def test_every_key_has_a_rule_entry():
    from spagan.config.rules import RULES

    keys = {f"{s}.{k}" for s, section in load_config(None).to_dict().items() for k in section}
    assert set(RULES) == keys


def test_non_yaml_override_is_taken_as_text():
    with pytest.raises(ConfigError, match=r"^eval.schedule_cron='\* \* \* \* \* \*': must be a 5-field"):
        load_config(ROOT / "params.yaml", ["eval.schedule_cron=* * * * * *"])


def test_bad_yaml_is_one_line(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("train:\n  lr: 1\n x: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "\n" not in str(info.value) and "not valid YAML: line 3" in str(info.value)


def test_save_config_is_atomic_and_round_trips(tmp_path, monkeypatch):
    from spagan.config import config_from_dict, save_config

    cfg = load_config(ROOT / "params.yaml")
    save_config(cfg, tmp_path / "config.yaml")
    import yaml

    assert config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == cfg
    monkeypatch.setattr("spagan.config.loading.yaml.safe_dump", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_config(cfg, tmp_path / "config.yaml")
    assert config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == cfg
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_watch_keys_moved_out_of_train_name_their_new_place():
    from spagan.config import config_from_stored

    with pytest.raises(ConfigError, match=r"train.preview_every is now watch.preview_every.*retrains nothing"):
        load_config(ROOT / "params.yaml", ["train.preview_every=500"])
    # A checkpoint or model file written before the watch: section still loads, its keys moved.
    stored = load_config(ROOT / "params.yaml").to_dict()
    old = {**stored, "train": {**stored["train"], "preview_every": 7, "checkpoint_every": 9}}
    del old["watch"]
    cfg = config_from_stored(old)
    assert (cfg.watch.preview_every, cfg.watch.checkpoint_every, cfg.watch.log_every) == (7, 9, 1)
    assert cfg.train == load_config(ROOT / "params.yaml").train
