"""The typed shape of params.yaml: one frozen dataclass per section (data, model, train, watch, eval).

The field defaults are the paper's settings (CycleGAN's backbone at 256 px); params.yaml holds
the demo's. Keys, types and defaults live here only; their allowed values are in
spagan.config.rules and reading a file is spagan.config.loading.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from spagan.core.fileio import json_digest


@dataclass(frozen=True)
class DataConfig:
    source: str = ""
    demo_seed: int = 0
    demo_size: int = 64
    demo_train_per_domain: int = 120
    demo_test_per_domain: int = 30
    demo_planted_duplicates: int = 3
    demo_planted_broken: int = 3
    min_size: int = 32
    max_pixels: int = 89_478_485
    phash_threshold: int = 6
    dedupe: Literal["drop", "report"] = "drop"  # drop listed duplicates, or keep every image and only list them
    min_images_per_split: int = 4
    balance_max_ratio: float = 3.0
    max_quarantine_fraction: float = 0.2


@dataclass(frozen=True)
class ModelConfig:
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    # auto: the paper's geometry at train.image_size (spagan.config.geometry); the loader resolves
    # it, so a loaded Config always holds the int.
    n_layers_d: int | Literal["auto"] = 3
    attention: bool = True
    attention_detach: bool = True
    attention_interp: Literal["bilinear", "nearest", "bicubic"] = "bilinear"
    attention_features: Literal["post_act", "pre_act"] = "post_act"
    attention_blend: bool = False


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    image_size: int = 256
    load_size: int = 286
    batch_size: int = 1
    epochs: int = 100
    epochs_decay: int = 100
    max_steps: int = 0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gan_mode: Literal["lsgan", "vanilla"] = "lsgan"
    lambda_cyc: float = 10.0
    lambda_idt: float = 0.5
    lambda_fm: float = 1.0
    fm_pairing: Literal["identity", "attended"] = "identity"
    identity_input: Literal["attended", "raw"] = "attended"
    pool_size: int = 50
    num_workers: int | Literal["auto"] = "auto"
    amp: Literal["auto", "on", "off"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"
    fuse_passes: Literal["auto", "on", "off"] = "auto"
    compile: Literal["on", "off"] = "off"
    # Evaluation during training (spagan.evaluation.training_eval, wired by `spagan train`):
    eval_every: int = 0  # epochs between evaluations (0: off)
    eval_images: int = 16  # training images per domain scored at each evaluation (spagan.training.holdout)
    eval_split: Literal["holdout", "train"] = "holdout"  # holdout: the last eval_images, untrained on; train: first
    select_by: str = "object_translation"  # picks best.pt (mean of both directions; better: rules.SELECTABLE)
    publish: Literal["last", "best"] = "last"  # the checkpoint `lineage publish` publishes


@dataclass(frozen=True)
class WatchConfig:
    """How a training run is watched and kept: none of these can change the weights it trains, so
    the DVC train stage does not read this section (a change to it retrains nothing) and a run
    resumes under any of its values."""

    checkpoint_every: int = 1000
    log_every: int = 1
    preview_every: int = 1000
    preview_images: int = 4
    preview_keep: int = 10
    tensorboard: bool = True


@dataclass(frozen=True)
class EvalConfig:
    seed: int = 0
    inception_weights: str = "fid"
    weights_dir: str = ""
    download_weights: bool = True
    weights_url: str = ""
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    batch_size: int = 16
    gallery_size: int = 8
    learned_classifier: bool = True
    learned_classifier_size: int = 64
    learned_classifier_width: int = 16
    learned_classifier_epochs: int = 8
    regression_threshold: float = 0.5
    regression_share_drop: float = 0.1
    regression_object_drop: float = 0.1
    regression_domain_drop: float = 0.1
    regression_distribution_rise: float = 0.5
    schedule_cron: str = "0 3 * * *"


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-serialisable)."""
        return dataclasses.asdict(self)

    def digest(self, *sections: str) -> str:
        """Short sha256 of the given sections (all if none), for versioning and lineage."""
        d = self.to_dict()
        picked = {s: d[s] for s in (sections or d.keys())}
        return json_digest(picked)
