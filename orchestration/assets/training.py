"""Training asset (group ``training``): the SPA-GAN model, made by the DVC ``train`` stage.

Training always goes through `dvc repro`, so dvc.lock is the authority whether it was started
here or from a shell; the asset then reports what the lock and the model's lineage.json say.
"""

import json

import dagster as dg

from orchestration.assets.data import validated_manifest
from orchestration.dvc_resource import DvcCli
from spagan.lineage import locked_model_lineage

TRAIN_STAGE = "train"


@dg.asset(group_name="training", deps=[validated_manifest], compute_kind="dvc")
def trained_model(context: dg.AssetExecutionContext, dvc: DvcCli) -> dg.MaterializeResult:
    """SPA-GAN generators and discriminators trained on the validated data (`dvc repro train`)."""
    dvc.repro(TRAIN_STAGE, context.log)  # up to date: DVC skips it, and the facts below still hold
    facts = locked_model_lineage(dvc.root(), TRAIN_STAGE)
    if facts["problems"]:
        raise dg.Failure(description="the model folder does not match dvc.lock: " + "; ".join(facts["problems"]))
    lin, lock = facts["lineage"], facts["lock"]
    metrics = json.loads((dvc.root() / facts["model_dir"] / "metrics.json").read_text(encoding="utf-8"))
    context.log.info(f"model {facts['model_dir']}: data version {lin['data']['data_version']}, "
                     f"model sha256 {lin['model']['sha256'][:16]}")
    return dg.MaterializeResult(
        metadata={
            "model_dir": dg.MetadataValue.path(str(dvc.root() / facts["model_dir"])),
            "model_md5": facts["model_md5"],
            "model_sha256": lin["model"]["sha256"],
            "data_version": lin["data"]["data_version"],
            "manifest_md5": lock["deps"][lin["data"]["manifest"]],
            "prepared_md5": lock["deps"][lin["data"]["prepared"]],
            "params_digest": lin["params"]["digest"],
            "params": dg.MetadataValue.json({s: lin["params"][s] for s in ("model", "train")}),
            "git_commit": lin["code"]["commit"] or "unknown",
            "git_dirty": bool(lin["code"]["dirty"]),
            "device": lin["runtime"]["device"],
            "steps": lin["model"]["steps"],
            "losses": dg.MetadataValue.json({k: v for k, v in metrics.items() if k.startswith("loss_")}),
            "lineage": dg.MetadataValue.path(str(dvc.root() / facts["model_dir"] / "lineage.json")),
        },
        data_version=dg.DataVersion(facts["version"]),
    )
