"""The evaluation group materialized in-process: data -> `dvc repro train` -> evaluation in a
project copy with tiny params; its trace metadata against dvc.lock, the regression check, the
feature cache, the eager automation and the definitions (schedule cron from params)."""

import json
from pathlib import Path

import dagster as dg
import pytest
import torch
import yaml
from torchvision.models.inception import Inception3

from orchestration.assets.data import prepared_data
from orchestration.assets.evaluation import EVAL_DIR, GALLERIES, SCORES, evaluation
from orchestration.assets.training import trained_model
from orchestration.checks.eval_checks import find_regressions, no_regression, pick_baselines, regression_limits
from orchestration.dvc_resource import DvcCli
from orchestration.resources import DataPaths
from spagan.config import load_config
from spagan.evaluation.metrics.features import ENV_VAR
from spagan.lineage.record import read_lineage
from tests.dvc_project import dvc, make_project

ALL = [prepared_data, trained_model, evaluation, no_regression]


def test_definitions_evaluation_group_schedule_sensor_and_jobs():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = dg.AssetSelection.groups("evaluation").resolve(graph)
    assert {k.to_user_string() for k in keys} == {"evaluation_scores", "attention_galleries"}
    for key in keys:  # both wait on the model and the validated test data
        assert {p.to_user_string() for p in graph.get(key).parent_keys} == {"trained_model", "validated_manifest"}
        assert graph.get(key).automation_condition is not None
    assert dg.AssetCheckKey(SCORES, "no_regression") in graph.asset_check_keys
    schedule = defs.resolve_schedule_def("reevaluation_schedule")
    assert schedule.cron_schedule == load_config("params.yaml").eval.schedule_cron
    assert schedule.job_name == "reevaluation"
    from orchestration.schedules import reevaluation_job  # forces the DVC stage: its inputs are unchanged

    assert reevaluation_job.config == {"ops": {"evaluation": {"config": {"force": True}}}}
    assert defs.resolve_sensor_def("automation").default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_job_def("ablation") is not None


LIMITS = regression_limits(load_config("params.yaml").eval)


def test_find_regressions_thresholds():
    prev = {"a2b_kid_x100": 2.0, "b2a_kid_x100": "unavailable: no weights; fix: ...", "a2b_success_share": 0.9,
            "b2a_success_share": 0.8}
    ok = {"a2b_kid_x100": 2.4, "b2a_kid_x100": 9.0, "a2b_success_share": 0.85, "b2a_success_share": 0.8}
    problems, deltas = find_regressions(prev, ok, LIMITS)
    assert problems == [] and deltas["a2b_kid_x100"] == pytest.approx(0.4) and "b2a_kid_x100" not in deltas
    bad = {**ok, "a2b_kid_x100": 2.6, "b2a_success_share": 0.6}
    problems, _ = find_regressions(prev, bad, LIMITS)
    assert len(problems) == 2 and problems[0].startswith("a2b_kid_x100") and problems[1].startswith("b2a_success")
    better = {"a2b_kid_x100": 0.1, "a2b_success_share": 1.0, "b2a_success_share": 1.0}
    assert find_regressions(prev, better, LIMITS)[0] == []


def test_find_regressions_sees_the_offline_yardstick_drop():
    """Offline (KID unavailable, the whole-image share saturated) the yardstick still has a signal:
    object translation, the calibrated object P(target) and the feature MMD (relative limit)."""
    prev = {"a2b_kid_x100": "unavailable", "a2b_success_share": 1.0, "a2b_object_translation": 0.7,
            "b2a_success_share": 1.0, "b2a_object_translation": 0.6, "a2b_object_domain_probability": 0.9,
            "b2a_offline_mmd_x100": 100.0}
    same_share = {**prev, "b2a_object_translation": 0.05}  # a model that stopped translating B->A objects
    problems, deltas = find_regressions(prev, same_share, LIMITS)
    assert problems == ["b2a_object_translation: 0.600 -> 0.050 (allowed change 0.1)"]
    assert deltas["b2a_object_translation"] == pytest.approx(-0.55)
    worse = {**prev, "a2b_object_domain_probability": 0.7, "b2a_offline_mmd_x100": 160.0}
    problems, _ = find_regressions(prev, worse, LIMITS)
    assert [p.split(":")[0] for p in problems] == ["a2b_object_domain_probability", "b2a_offline_mmd_x100"]
    assert find_regressions(prev, {**prev, "b2a_offline_mmd_x100": 140.0}, LIMITS)[0] == []  # within 0.5 x 100


def test_pick_baselines_compares_like_with_like():
    cur = {"model_sha256": "m2", "evaluated_data_version": "d1"}
    earlier = [{"model_sha256": "m2", "evaluated_data_version": "d1"},  # itself, recorded again
               {"model_sha256": "m2", "evaluated_data_version": "d0"},  # same model, older test data
               {"model_sha256": "m1", "evaluated_data_version": "d0"},  # other model, other data
               {"model_sha256": "m1", "evaluated_data_version": "d1", "tag": "baseline"}]
    baseline, moved = pick_baselines(cur, earlier)
    assert baseline["tag"] == "baseline" and moved["evaluated_data_version"] == "d0"
    assert pick_baselines(cur, earlier[:3]) == (None, earlier[1])  # never itself, never other data


def _meta(event) -> dict:
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalproj")
    with pytest.MonkeyPatch.context() as mp:  # no Inception weights anywhere: KID must say so
        mp.setenv("TORCH_HOME", str(tmp / "torch_home"))
        mp.delenv(ENV_VAR, raising=False)
        repo = make_project(tmp)
        resources = {"data_paths": DataPaths(root=str(repo / "data"), params=str(repo / "params.yaml")),
                     "dvc": DvcCli(repo=str(repo))}
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(ALL, resources=resources, instance=instance)
        yield repo, resources, instance, result


def test_evaluation_assets_trace_to_dvc_lock(project):
    repo, _, _, result = project
    assert result.success
    events = {e.asset_key: e for e in result.get_asset_materialization_events()}
    scores, galleries = _meta(events[SCORES]), _meta(events[GALLERIES])
    lineage = read_lineage(repo / "models" / "spagan")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]
    deps = {d["path"]: d["md5"] for d in lock["deps"]}
    for meta in (scores, galleries):
        assert meta["model_sha256"] == lineage["model"]["sha256"]
        assert meta["model_md5"] == lock["outs"][0]["md5"]
        assert meta["manifest_md5"] == deps["data/manifest.csv"] and meta["prepared_md5"] == deps["data/prepared"]
        assert meta["trained_on_data_version"] == meta["evaluated_data_version"] == lineage["data"]["data_version"]
    model_version = events[dg.AssetKey("trained_model")].materialization.tags["dagster/data_version"]
    assert scores["model_version"] == model_version

    out = repo / EVAL_DIR
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint"]["sha256"] == lineage["model"]["sha256"]
    # The evaluation is the DVC stage's: dvc.lock records it and the shell has nothing left to do.
    eval_lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["evaluate"]
    assert scores["metrics_md5"] == next(o["md5"] for o in eval_lock["outs"] if o["path"] == "eval/metrics.json")
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}
    for d in ("a2b", "b2a"):  # offline: KID unavailable, with the fix, and no number pretending otherwise
        assert scores[f"{d}_kid_x100"].startswith("unavailable: ") and "fix: " in scores[f"{d}_kid_x100"]
        assert f"{d}_kid_x100_std" not in scores
        assert scores[f"{d}_success_share"] == pytest.approx(metrics[d]["success_share"])
        assert scores[f"{d}_background_l1"] == pytest.approx(metrics[d]["background_l1"])
        assert galleries[f"{d}_file"] == str(out / "gallery" / f"{d}.png") and (out / "gallery" / f"{d}.png").is_file()
        assert "data:image/png;base64," in galleries[d] and "KID x100 unavailable" in galleries[d]
    table = {r.data["metric"]: r.data for r in events[SCORES].materialization.metadata["scores"].value.records}
    assert "whole image classified as target" in table
    for d in ("a2b", "b2a"):  # the offline yardstick, with its reference rows in the table
        assert scores[f"{d}_object_translation"] == pytest.approx(metrics[d]["object_translation"])
        assert scores[f"{d}_offline_mmd_x100"] == pytest.approx(metrics[d]["offline_mmd_x100"]["mean"])
    row = table["object translation (0 input, 1 counterpart)"]  # a table with a column schema
    # reference rows [input; counterpart; constant grey; constant mean colour]: no constant rows for objects
    assert row["a2b"].endswith("[0.000; 1.000; -; -]") and set(row) == {"metric", "a2b", "b2a"}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["no_regression"].passed
    assert checks["no_regression"].metadata["compared_with"].value.startswith("nothing: no evaluation of another")


def _check_now(resources, instance) -> dg.AssetCheckEvaluation:
    """Run no_regression alone on what the instance holds (as the automation sensor launches it)."""
    result = dg.materialize([evaluation, no_regression], resources=resources, instance=instance,
                            selection=dg.AssetSelection.checks(no_regression))
    assert result.success and not result.get_asset_materialization_events()  # nothing re-evaluated
    return result.get_asset_check_evaluations()[0]


def test_regression_check_compares_like_with_like(project):
    _, resources, instance, _ = project
    real = {k: v.value for k, v in instance.get_latest_materialization_event(SCORES).asset_materialization
            .metadata.items()}

    def record(**changes):
        meta = {k: v for k, v in {**real, **changes}.items() if not isinstance(v, dict)}
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=SCORES, metadata=meta))

    # One evaluation recorded twice (a run and the sensor): never compared with itself.
    record()
    check = _check_now(resources, instance)
    assert check.passed and check.metadata["compared_with"].value.startswith("nothing")

    # The same model, earlier, on other test data with better scores: information, not a regression.
    record(evaluated_data_version="older-test-data", a2b_object_translation=real["a2b_object_translation"] + 0.5)
    record()
    check = _check_now(resources, instance)
    assert check.passed and check.metadata["same_model_previous_data_version"].value == "older-test-data"
    assert check.metadata["same_model_changed_data_deltas"].value["a2b_object_translation"] == pytest.approx(-0.5)

    # A different, better model on the same test data, then this one again: a regression, naming both.
    record(model_sha256="b" * 64, a2b_object_translation=real["a2b_object_translation"] + 0.5)
    record()
    check = _check_now(resources, instance)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["regressions"].value[0].startswith("a2b_object_translation")
    assert check.metadata["previous_model_sha256"].value == "b" * 64
    assert check.metadata["current_model_sha256"].value == real["model_sha256"]
    assert check.metadata["data_version"].value == real["evaluated_data_version"]
    assert check.metadata["deltas"].value["a2b_object_translation"] == pytest.approx(-0.5)


def test_eager_automation_requests_evaluation_when_the_model_changes(project):
    _, _, instance, _ = project
    from orchestration.definitions import defs

    selection = dg.AssetSelection.groups("evaluation")
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    assert first.total_requested == 0  # everything evaluated after the last model: nothing to do
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="trained_model"))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                               cursor=first.cursor)
    assert second.get_num_requested(SCORES) == 1 and second.get_num_requested(GALLERIES) == 1


# slow since 2026-12-07 (18 s): KID with weights on disk is also tested by test_kid_as_papers and
# test_eval_during_training; this one adds the Dagster forced re-evaluation path
@pytest.mark.slow
def test_kid_with_weights_and_feature_cache_on_forced_reevaluation(project, tmp_path):
    repo, resources, instance, _ = project
    torch.manual_seed(0)
    weights = tmp_path / "inception.pth"
    torch.save(Inception3(aux_logits=False, init_weights=False).state_dict(), weights)
    params_file = repo / "params.yaml"
    original = params_file.read_text()
    raw = yaml.safe_load(original)
    raw["eval"]["inception_weights"] = str(weights)
    params_file.write_text(yaml.safe_dump(raw))  # an eval param changed: DVC re-runs the stage
    metas, logs = [], []
    try:
        # then the re-evaluation schedule's run config: the stage runs again with nothing changed
        for config in ({}, {"ops": {"evaluation": {"config": {"force": True}}}}):
            result = dg.materialize([evaluation], resources=resources, instance=instance, selection=[SCORES, GALLERIES],
                                    run_config=config)
            metas.append(_meta(next(e for e in result.get_asset_materialization_events() if e.asset_key == SCORES)))
            logs.append("\n".join(e.user_message for e in instance.all_logs(result.run_id)))
    finally:
        params_file.write_text(original)
    assert all("Running stage 'evaluate'" in log for log in logs)
    assert "--force" in logs[1]
    first, second = metas
    for d in ("a2b", "b2a"):
        assert isinstance(first[f"{d}_kid_x100"], float) and first[f"{d}_kid_x100_std"] >= 0
        assert second[f"{d}_kid_x100"] == pytest.approx(first[f"{d}_kid_x100"])
    assert first["feature_cache"]["misses"] > 0
    cache1, cache2 = first["feature_cache"], second["feature_cache"]
    assert cache2["misses"] == 0 and cache2["hits"] == cache1["hits"] + cache1["misses"]
    assert (repo / "runs" / "eval_feature_cache").is_dir()  # shared with the DVC evaluate stage


def test_a_do_nothing_model_is_a_regression_against_the_trained_demo():
    """The check's thresholds against the committed yardstick rows (benchmarks/yardstick_baselines.py):
    after the README's trained model, the input returned unchanged or a constant generator is
    flagged in both directions, on the offline scores alone (KID unavailable)."""
    rows = {r["row"]: r for r in json.loads(Path("benchmarks/results/yardstick_baselines.json").read_text())["rows"]}

    def as_metadata(row: dict) -> dict:
        return {f"{d}_{key}": row.get(f"{key}_{d}") for d in ("a2b", "b2a") for key, _, _, _ in LIMITS}

    trained = as_metadata(rows.pop("model"))
    nothing = [name for name in rows if name.startswith(("input_as_output", "constant"))]
    assert len(nothing) >= 2, sorted(rows)
    for name in nothing:
        problems, _ = find_regressions(trained, as_metadata(rows[name]), LIMITS)
        flagged = {p.split(":")[0] for p in problems}
        assert {"a2b_object_translation", "b2a_object_translation"} <= flagged, (name, problems)
    assert find_regressions(trained, trained, LIMITS)[0] == []  # the model against itself: nothing
