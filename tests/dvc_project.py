"""A throw-away copy of the project as its own git repository, for real `dvc` runs in tests.

The copy holds what the DVC stages need (spagan/, dvc.yaml, .dvc/config, scripts/dvc) with tiny
params; .venv and .venv-dvc are links to this checkout's environments, and scripts/dvc puts the
copy first on PYTHONPATH, so the stage commands run the copied code.
"""

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC_BIN = ROOT / ".venv-dvc" / "bin" / "dvc"
COPIED = ("spagan", "dvc.yaml", ".dvcignore", ".gitignore", "scripts/dvc", ".dvc/config", ".dvc/.gitignore",
          "data/.gitignore", "data/raw/README.md")

# Tiny everything: a few seconds per stage on 2 CPU cores.
TINY_PARAMS = {
    # 10 training images per domain, 2 held out for evaluation during training: 8 trained on, 8 steps an epoch
    "data": {"demo_size": 32, "demo_train_per_domain": 10, "demo_test_per_domain": 5,
             "demo_planted_duplicates": 1, "demo_planted_broken": 1},
    "model": {"ngf": 8, "ndf": 8, "n_blocks": 1},
    "train": {"image_size": 32, "load_size": 36, "max_steps": 4, "pool_size": 2, "eval_images": 2},
    "watch": {"checkpoint_every": 2},
    "eval": {"kid_subsets": 2, "gallery_size": 2},
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def set_params(repo: Path, updates: dict) -> None:
    """Merge {section: {key: value}} into repo/params.yaml."""
    path = repo / "params.yaml"
    raw = yaml.safe_load(path.read_text()) if path.exists() else yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in updates.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def make_project(parent: Path, params: dict | None = None) -> Path:
    """parent/proj: the project copy, committed; its default DVC remote is parent/spagan-dvc-remote."""
    repo = parent / "proj"
    for rel in COPIED:
        src, dst = ROOT / rel, repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)
    for env in (".venv", ".venv-dvc"):
        (repo / env).symlink_to(ROOT / env)
    with open(repo / ".gitignore", "a") as f:
        f.write("\n/.venv\n/.venv-dvc\n")  # links, which the `.venv/` pattern does not match
    set_params(repo, TINY_PARAMS)
    if params:
        set_params(repo, params)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project copy")
    return repo


def dvc(repo: Path, *args: str, check: bool = True, timeout: float = 300,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `scripts/dvc ARGS` in repo (output captured, stderr merged into stdout; `env` added)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    done = subprocess.run([str(repo / "scripts" / "dvc"), *args], cwd=repo, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}")
    return done
