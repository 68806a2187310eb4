"""Dagster resources: where the pipeline reads params and writes files.

Every asset writes only below ``DataPaths.root`` (default: the project's ``data/`` folder);
tests point it at a temporary folder.
"""

from pathlib import Path

import dagster as dg

from spagan.config import DataConfig, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DataPaths(dg.ConfigurableResource):
    """The data folder and the params file used by the data assets."""

    root: str = ""  # folder the data assets write under; "" = <project>/data
    params: str = ""  # params file; "" = <project>/params.yaml

    def out_dir(self) -> Path:
        """The folder holding source/, ingested/, prepared/ and the reports (created if missing)."""
        path = Path(self.root) if self.root else PROJECT_ROOT / "data"
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()

    def params_path(self) -> Path:
        """The params.yaml the assets read."""
        return Path(self.params) if self.params else PROJECT_ROOT / "params.yaml"

    def data_config(self) -> DataConfig:
        """The `data:` section of params."""
        return load_config(self.params_path()).data

    def inside(self, *parts: str) -> Path:
        """A path below out_dir(); refuses anything that would leave it."""
        base = self.out_dir()
        path = base.joinpath(*parts).resolve()
        if path != base and base not in path.parents:
            raise ValueError(f"{path} is outside the data folder {base}")
        return path
