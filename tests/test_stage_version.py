"""A stage's code version agrees with `dvc status` (a real `dvc repro` in a project copy), and the
provenance tags Dagster reads staleness from are the ones we write."""

import json

from dagster._core.definitions import data_version as dagster_versions

from orchestration import provenance
from spagan.lineage.stage_version import (
    locked_code_version,
    locked_raw_source_version,
    raw_source_signature,
    raw_source_version,
    stage_code_deps,
    stage_code_version,
)
from tests.dvc_project import dvc, make_project, set_params


def test_provenance_tags_are_dagsters():
    assert provenance.DATA_VERSION_TAG == dagster_versions.DATA_VERSION_TAG
    assert provenance.CODE_VERSION_TAG == dagster_versions.CODE_VERSION_TAG
    assert provenance.INPUT_VERSION_PREFIX == dagster_versions.INPUT_DATA_VERSION_TAG_PREFIX + "/"
    assert provenance.INPUT_POINTER_PREFIX == dagster_versions.INPUT_EVENT_POINTER_TAG_PREFIX + "/"
    assert provenance.USER_PROVIDED_TAG == dagster_versions.DATA_VERSION_IS_USER_PROVIDED_TAG
    assert provenance.NO_POINTER == dagster_versions.NULL_EVENT_POINTER


def _changed(repo) -> set[str]:
    return set(json.loads(dvc(repo, "status", "--json").stdout))


def test_code_version_changes_exactly_when_dvc_status_does(tmp_path):
    repo = make_project(tmp_path)
    deps = stage_code_deps(repo, "prepare")
    assert "spagan/data" in deps and "data/raw" not in deps  # code, not the raw source
    assert "data/prepared" not in stage_code_deps(repo, "train")  # another stage's output is data
    dvc(repo, "repro", "prepare")
    assert "prepare" not in _changed(repo)
    assert stage_code_version(repo, "prepare") == locked_code_version(repo, "prepare")
    assert raw_source_version(repo) == locked_raw_source_version(repo)

    # A code file of the stage edited: DVC sees the stage changed, and so does the code version.
    schema = repo / "spagan" / "data" / "schema.py"
    original = schema.read_text()
    schema.write_text(original + "# an edit\n")
    assert "prepare" in _changed(repo)
    assert stage_code_version(repo, "prepare") != locked_code_version(repo, "prepare")
    schema.write_text(original)
    assert stage_code_version(repo, "prepare") == locked_code_version(repo, "prepare")

    # A params section the stage reads: changed for both; another stage's section: for neither.
    set_params(repo, {"train": {"lr": 0.0001}})
    assert "prepare" not in _changed(repo)
    assert stage_code_version(repo, "prepare") == locked_code_version(repo, "prepare")
    set_params(repo, {"data": {"phash_threshold": 3}})
    assert "prepare" in _changed(repo)
    assert stage_code_version(repo, "prepare") != locked_code_version(repo, "prepare")

    # A file added to the raw source: the raw version moves, the code version does not.
    set_params(repo, {"data": {"phash_threshold": 6}})
    before, signature = raw_source_version(repo), raw_source_signature(repo)
    assert raw_source_signature(repo) == signature  # stable while nothing changes
    (repo / "data" / "raw" / "extra.png").write_bytes(b"not an image")
    assert raw_source_version(repo) != before == locked_raw_source_version(repo)
    assert raw_source_signature(repo) != signature  # the poller's cheap signature sees it too
    assert "prepare" in _changed(repo)
