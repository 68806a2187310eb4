"""Training asset (group ``training``): the SPA-GAN model, made by the DVC ``train`` stage.

Training always goes through `dvc repro`, so dvc.lock is the authority whether it was started
here or from a shell; the asset then reports what the lock and the model's lineage.json say
(the dvc.lock sensor reports a model trained from a shell the same way, without retraining).

The asset is in the ``gpu`` concurrency pool (one training at a time per GPU machine: see
docs/deploy.md for the dagster.yaml that enforces it) and carries the op tags with which the
Kubernetes run launcher (dagster-k8s) gives its pod a GPU.

While the stage trains, the asset records observations of the run (step, curves, latest preview,
TensorBoard folder: orchestration/assets/training_pictures.py); the materialization carries the
same pictures from the published model folder and which checkpoint was published, and why.
"""

import json
from pathlib import Path

import dagster as dg

from orchestration.assets.data import VALIDATED_MANIFEST
from orchestration.assets.training_pictures import TrainingObserver, model_pictures
from orchestration.dvc_resource import DvcCli
from orchestration.provenance import Recorded, definition_code_version
from spagan.config import load_config
from spagan.config.geometry import patch_geometry
from spagan.core.errors import SpaganError
from spagan.lineage.gate import GATE_STAGE
from spagan.lineage.record import locked_model_lineage
from spagan.lineage.stage_version import locked_code_version

TRAIN_STAGE = "train"
MODEL = dg.AssetKey("trained_model")
GPU_POOL = "gpu"
# dagster-k8s reads this tag for the step's (or, with the k8s run launcher, the run's) container.
K8S_GPU_TAGS = {"dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}}


def model_materialization(repo: Path) -> Recorded:
    """The model dvc.lock's train stage names: metadata, data version and provenance (the stage's
    locked code version, the data version lineage.json says it was trained on); SpaganError when
    the model folder and the lock disagree (a model is never reported under data or code it was
    not trained on)."""
    facts = locked_model_lineage(repo, TRAIN_STAGE)
    if facts["problems"]:
        raise SpaganError("the model folder does not match dvc.lock: " + "; ".join(facts["problems"]))
    lin, lock = facts["lineage"], facts["lock"]
    metrics = json.loads((repo / facts["model_dir"] / "metrics.json").read_text(encoding="utf-8"))
    source = lin["data"].get("source") or {}
    metadata = {
        **model_pictures(repo, repo / facts["model_dir"], lin),  # first: what the asset page shows on top
        "model_dir": dg.MetadataValue.path(str(repo / facts["model_dir"])),
        "model_md5": facts["model_md5"],
        "model_sha256": lin["model"]["sha256"],
        "source": source.get("path") or "demo domains",
        "source_md5": source.get("md5") or "unknown",
        "data_version": lin["data"]["data_version"],
        "manifest_md5": lock["deps"][lin["data"]["manifest"]],
        "prepared_md5": lock["deps"][lin["data"]["prepared"]],
        "params_digest": lin["params"]["digest"],
        "params": dg.MetadataValue.json({s: lin["params"][s] for s in ("model", "train")}),
        # model.n_layers_d as it ran (auto resolved) and what the PatchGAN sees at the training size
        "discriminator": patch_geometry(lin["params"]["model"]["n_layers_d"],
                                        lin["params"]["train"]["image_size"]).describe(),
        "code_digest": lin["code"]["digest"],
        "git_commit": lin["code"]["commit"] or "unknown",
        "git_dirty": bool(lin["code"]["dirty"]),
        "device": lin["runtime"]["device"],
        "steps": lin["model"]["steps"],
        "losses": dg.MetadataValue.json({k: v for k, v in metrics.items() if k.startswith("loss_")}),
        "lineage": dg.MetadataValue.path(str(repo / facts["model_dir"] / "lineage.json")),
    }
    return Recorded(MODEL, metadata, facts["version"], locked_code_version(repo, TRAIN_STAGE),
                    {VALIDATED_MANIFEST: lin["data"]["data_version"]})


@dg.asset(group_name="training", deps=[VALIDATED_MANIFEST], kinds={"dvc", "pytorch"}, pool=GPU_POOL,
          op_tags=K8S_GPU_TAGS, code_version=definition_code_version(TRAIN_STAGE))
def trained_model(context: dg.AssetExecutionContext, dvc: DvcCli) -> dg.MaterializeResult:
    """SPA-GAN generators and discriminators trained on the validated data (`dvc repro train`)."""
    dvc.check_params()  # a bad params.yaml fails the step with its message, before anything runs
    select_by = load_config(dvc.root() / "params.yaml").train.select_by
    observer = TrainingObserver(context, MODEL, dvc.root(), select_by)
    # The selection gate first (milliseconds; it decides whether the scoring code is a dep of
    # training, spagan/lineage/gate.py), then training; an up-to-date stage is skipped by DVC.
    dvc.repro(GATE_STAGE, context.log)
    dvc.repro(TRAIN_STAGE, context.log, on_tick=observer)
    try:
        recorded = model_materialization(dvc.root())
    except SpaganError as exc:
        raise dg.Failure(description=str(exc)) from None
    meta = recorded.metadata
    context.log.info(f"model {meta['model_dir'].value}: data version {meta['data_version']}, "
                     f"model sha256 {meta['model_sha256'][:16]}")
    return recorded.result()
