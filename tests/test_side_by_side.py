"""Side-by-side pictures of two models on the same photos (spagan.inference.side_by_side) and the
Dagster asset that shows them for the trained model (orchestration/assets/side_by_side.py): real
tiny models, real PNGs, a real materialization."""

from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from orchestration.assets.side_by_side import side_by_side_gallery
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.core.grid import PADDING
from spagan.inference.side_by_side import write_side_by_side
from spagan.training.loop import train
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(prepared data, a 2-step SPA-GAN, a 2-step CycleGAN): real checkpoints of tiny networks."""
    root = tmp_path_factory.mktemp("side_by_side")
    data = write_tiny_domains(root / "data" / "prepared")
    runs = []
    for name, extra in (("spagan", []), ("cyclegan", ["model.attention=false", "train.lambda_fm=0"])):
        cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=2", *extra])
        runs.append(train(cfg, data, root / name, device="cpu").checkpoint)
    return data, runs[0], runs[1]


def test_the_picture_has_a_row_per_photo_and_the_input_first(two_models, tmp_path):
    data, spagan, cyclegan = two_models
    shown = write_side_by_side({"SPA-GAN": spagan, "CycleGAN": cyclegan}, data / "testA", "a2b",
                               tmp_path / "a2b.png", n=3, zoom=1)
    assert shown.columns == ["input", "SPA-GAN attention", "SPA-GAN translation",
                             "CycleGAN attention", "CycleGAN translation"]
    assert shown.images == ["000.png", "001.png", "002.png"]
    assert len(set(shown.models.values())) == 2  # two different weights files
    picture = np.asarray(Image.open(shown.path).convert("RGB"))
    tile = 32  # the tiny models' training size
    assert picture.shape == (PADDING + 3 * (tile + PADDING), PADDING + 5 * (tile + PADDING), 3)
    # the first tile of the second row is the second photo, resized to the training size
    photo = np.asarray(Image.open(data / "testA" / "001.png").convert("RGB").resize((tile, tile), Image.BICUBIC))
    first = picture[2 * PADDING + tile:2 * (PADDING + tile), PADDING:PADDING + tile].astype(int)
    assert np.abs(first - photo.astype(int)).mean() < 8
    # the translations differ between the models (not one model drawn twice)
    columns = [picture[PADDING:PADDING + tile, PADDING + c * (tile + PADDING):][:, :tile] for c in (2, 4)]
    assert not np.array_equal(columns[0], columns[1])


def test_bad_input_names_the_file_and_the_reason(two_models, tmp_path):
    data, spagan, _ = two_models
    with pytest.raises(SpaganError, match="no such model"):
        write_side_by_side({"a": spagan, "b": tmp_path / "missing.pt"}, data / "testA", "a2b", tmp_path / "x.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpaganError, match="empty.*no images"):
        write_side_by_side({"a": spagan}, tmp_path / "empty", "a2b", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_the_dagster_asset_shows_both_directions_with_both_models_hashes(two_models, tmp_path):
    data, spagan, cyclegan = two_models
    resources = {"data_paths": DataPaths(root=str(data.parent)), "dvc": DvcCli(repo=str(tmp_path))}
    # no baseline given and no ablation CycleGAN: the model alone, and the metadata says how to add one
    result = dg.materialize([side_by_side_gallery], resources=resources,
                            run_config={"ops": {"side_by_side_gallery": {"config": {"model": str(spagan)}}}})
    meta = result.asset_materializations_for_node("side_by_side_gallery")[0].metadata
    assert "ablation" in meta["baseline"].value and "variants: [cyclegan]" in meta["baseline"].value
    assert "columns: input | model attention | model translation\n" in meta["a2b"].value
    config = {"model": str(spagan), "model_name": "SPA-GAN", "compare": str(cyclegan), "n": 2}
    result = dg.materialize([side_by_side_gallery], resources=resources,
                            run_config={"ops": {"side_by_side_gallery": {"config": config}}})
    meta = result.asset_materializations_for_node("side_by_side_gallery")[0].metadata
    for direction in ("a2b", "b2a"):
        assert "data:image/png;base64," in meta[direction].value
        assert "SPA-GAN attention" in meta[direction].value
        assert Path(meta[f"{direction}_file"].value).is_file()
        assert meta[f"{direction}_images"].value == ["000.png", "001.png"]
    assert meta["SPA-GAN_sha256"].value != meta["CycleGAN_sha256"].value
    assert meta["baseline"].value == f"CycleGAN: {cyclegan}"


def test_the_asset_sits_downstream_of_the_model_and_outside_the_scheduled_reevaluation():
    from orchestration.definitions import defs
    from orchestration.schedules import EVALUATION

    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("side_by_side_gallery")
    assert {p.to_user_string() for p in graph.get(key).parent_keys} == {"trained_model"}
    assert key not in EVALUATION.resolve(graph)  # it needs a baseline: never forced by the schedule
    assert graph.get(key).automation_condition is None
