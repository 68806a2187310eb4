"""The side-by-side gallery (group ``comparison``): the pipeline's trained model beside a baseline on
the same test photos, per direction: input | the model's attention | its translation | the
baseline's attention | its translation (spagan.inference.side_by_side; issue 30).

Materialized on demand, not eagerly: it needs a second model. By default that is the CycleGAN the
``ablation`` job trains on the same prepared data with the same budget
(<data root>/ablation/cyclegan/train); until that exists it shows the model alone and its
``baseline`` metadata says how to add one (so "Materialize all" does not fail for want of it).
``compare`` names any other model (a checkpoint.pt, model.safetensors or run folder),
``images_a`` / ``images_b`` other photos (say, the Weizmann horses). The metadata records the
sha256 of both models and the photos shown, so a picture traces back to the weights that drew it.
"""

from pathlib import Path

import dagster as dg

from orchestration.assets.training import GPU_POOL, MODEL
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.core.errors import SpaganError
from spagan.core.fileio import json_digest
from spagan.data.preview import markdown_image
from spagan.inference.side_by_side import write_side_by_side
from spagan.lineage.chain import LINKS

SIDE_BY_SIDE = dg.AssetKey("side_by_side_gallery")
MODEL_DIR = LINKS[1][1]  # models/spagan: the train stage's output, below the DVC repo
ABLATION_CYCLEGAN = ("ablation", "cyclegan", "train")  # where the ablation job's CycleGAN run lies
PICTURE_SIDE = 1024  # px: longest side of the inline pictures


class SideBySideConfig(dg.Config):
    """Which models and photos to show."""

    model: str = ""  # "" = the pipeline's trained model (models/spagan); or another model to show first
    model_name: str = "model"  # its column heading
    compare: str = ""  # "" = the ablation job's CycleGAN (<data root>/ablation/cyclegan/train); or any model
    compare_name: str = "CycleGAN"  # its column heading
    images_a: str = ""  # horses for a2b; "" = <data root>/prepared/testA
    images_b: str = ""  # zebras for b2a; "" = <data root>/prepared/testB
    n: int = 6  # photos per direction (the first n, sorted, after skip)
    skip: int = 0


@dg.asset(group_name="comparison", deps=[MODEL], kinds={"pytorch"}, pool=GPU_POOL,
          description="input | attention | translation of the trained model | attention | translation of a "
                      "baseline (default: the ablation job's CycleGAN), on the same test photos")
def side_by_side_gallery(context: dg.AssetExecutionContext, config: SideBySideConfig, data_paths: DataPaths,
                         dvc: DvcCli) -> dg.MaterializeResult:
    """Both directions' side-by-side PNGs under <data root>/side_by_side/, inline in the metadata."""
    model = Path(config.model) if config.model else dvc.root() / MODEL_DIR
    compare = Path(config.compare) if config.compare else data_paths.inside(*ABLATION_CYCLEGAN)
    models = {config.model_name: model, config.compare_name: compare}
    baseline = f"{config.compare_name}: {compare}"
    if not config.compare and not compare.exists():
        # "Materialize all" must not fail for want of a baseline: the model alone, and how to add one
        models.pop(config.compare_name)
        baseline = (f"none ({compare} does not exist): run the `ablation` job with variants: [cyclegan] (CycleGAN "
                    "on the same data with the same budget), or set compare: PATH to a model")
        context.log.warning(f"side_by_side_gallery: no baseline; {baseline}")
    folders = {"a2b": config.images_a or data_paths.inside("prepared", "testA"),
               "b2a": config.images_b or data_paths.inside("prepared", "testB")}
    meta: dict = {}
    shown_models: dict[str, str] = {}
    for direction, folder in folders.items():
        out = data_paths.inside("side_by_side", f"{direction}.png")
        try:
            shown = write_side_by_side(models, Path(folder), direction, out, n=config.n, skip=config.skip,
                                       device="auto")
        except SpaganError as exc:
            raise dg.Failure(description=str(exc)) from None
        context.log.info(f"{direction}: {len(shown.images)} photos from {folder} -> {out}")
        meta[direction] = dg.MetadataValue.md(
            f"**{direction}** ({folder}); columns: {' | '.join(shown.columns)}\n\n"
            + markdown_image(out, f"{direction} side by side", PICTURE_SIDE))
        meta[f"{direction}_file"] = dg.MetadataValue.path(str(out))
        meta[f"{direction}_images"] = dg.MetadataValue.json(shown.images)
        shown_models = shown.models
    for name, sha in shown_models.items():
        meta[f"{name}_sha256"] = sha
    meta["models"] = dg.MetadataValue.json({name: str(path) for name, path in models.items()})
    meta["baseline"] = baseline
    version = json_digest({"models": shown_models, "images": {d: str(f) for d, f in folders.items()},
                           "n": config.n, "skip": config.skip})
    return dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(version))
