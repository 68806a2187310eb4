#!/usr/bin/env bash
# Create the project's two Python environments (idempotent; re-running only tops them up):
#   .venv      the project (spagan library, Dagster, PyTorch, tests)
#   .venv-dvc  the DVC command-line tool, kept apart because DVC's hydra pins an antlr4
#              runtime that breaks Dagster's asset selection (see README, "Why two environments").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PIP_FLAGS=(--quiet --disable-pip-version-check)

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "setup: installing spagan + dagster + torch into .venv"
# torch/torchvision pinned in the range pyproject.toml admits; CPU or CUDA build as pip resolves it.
.venv/bin/pip install "${PIP_FLAGS[@]}" "torch>=2.4,<=2.14.1" "torchvision>=0.19,<=0.29.1"
.venv/bin/pip install "${PIP_FLAGS[@]}" -e ".[dev]"

if [ ! -x .venv-dvc/bin/dvc ]; then
  echo "setup: creating .venv-dvc (DVC command-line tool)"
  "$PYTHON" -m venv .venv-dvc
  .venv-dvc/bin/pip install "${PIP_FLAGS[@]}" "dvc>=3.50,<4"
fi
echo "setup: done (.venv: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'); .venv-dvc: dvc $(.venv-dvc/bin/dvc --version))"
