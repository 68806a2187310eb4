"""Configuration: params.yaml's typed schema, the rules its values must meet, and loading.

Imports only spagan.core. `from spagan.config import load_config, Config` is the public surface.
"""

from spagan.config.loading import (
    ConfigError,
    config_from_dict,
    config_from_stored,
    load_config,
    parse_overrides,
    save_config,
)
from spagan.config.schema import Config, DataConfig, EvalConfig, ModelConfig, TrainConfig, WatchConfig

__all__ = ["Config", "ConfigError", "DataConfig", "EvalConfig", "ModelConfig", "TrainConfig", "WatchConfig",
           "config_from_dict", "config_from_stored", "load_config", "parse_overrides", "save_config"]
