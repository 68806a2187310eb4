"""The ``ablation`` job: SPA-GAN, SPA-GAN without the feature map loss and the CycleGAN baseline,
trained and evaluated on the prepared data with the same budget (spagan.evaluation.ablation.run_ablation).

An op job, not assets: its three throw-away models are a comparison, not the pipeline's model.
"""

import dagster as dg
from pydantic import Field

from orchestration.assets.evaluation import FEATURE_CACHE
from orchestration.assets.training import GPU_POOL, K8S_GPU_TAGS
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths


class AblationConfig(dg.Config):
    """Shared overrides and which variants to run."""

    overrides: list[str] = Field(default_factory=list)  # KEY=VALUE for every variant, e.g. ["train.max_steps=400"]
    variants: list[str] = Field(default_factory=list)  # subset of spagan.evaluation.ablation.VARIANTS; [] = all three


@dg.op(out=dg.Out(str, description="path of ablation.md"), pool=GPU_POOL, tags=K8S_GPU_TAGS)  # trains on the GPU
def ablate_variants(context: dg.OpExecutionContext, config: AblationConfig, data_paths: DataPaths, dvc: DvcCli):
    """Train + evaluate every variant on <data root>/prepared into <data root>/ablation."""
    from spagan.evaluation.ablation import JSON_NAME, TABLE_NAME, VARIANTS, run_ablation

    unknown = set(config.variants) - set(VARIANTS)
    if unknown:
        raise dg.Failure(description=f"unknown variants {sorted(unknown)}; known: {sorted(VARIANTS)}")
    out = data_paths.inside("ablation")

    def on_variant(name: str, res: dict) -> None:
        context.log.info(f"{name}: {res['train']['steps']} steps in {res['train']['seconds']:.0f} s, evaluated")

    report = run_ablation(data_paths.params_path(), data_paths.inside("prepared"), out, overrides=config.overrides,
                          variants={v: VARIANTS[v] for v in config.variants or VARIANTS},
                          cache_dir=dvc.root() / FEATURE_CACHE, on_variant=on_variant)
    context.log.info("\n" + report["markdown"])
    return dg.Output(str(out / TABLE_NAME), metadata={
        "table": dg.MetadataValue.md(report["markdown"]),
        "report": dg.MetadataValue.path(str(out / JSON_NAME)),
        "data_version": report["data_version"] or "unknown",
    })


@dg.job(description="SPA-GAN vs. SPA-GAN without FM loss vs. CycleGAN: one table of every metric")
def ablation():
    ablate_variants()
