"""Run by tests/test_distributed.py under torchrun: train() with a loss made non-finite on one
rank at one step (argv: data, out, rank, step, then config overrides)."""

import sys
from pathlib import Path

import torch

from spagan.config import load_config
from spagan.training.loop import train
from spagan.training.step import SpaGanStep

ROOT = Path(__file__).resolve().parents[1]  # run as a script: `tests` is not importable
data, out, bad_rank, bad_step, *overrides = sys.argv[1:]
original = SpaGanStep.losses
calls = []


def poisoned(self, real_a, real_b):
    losses = original(self, real_a, real_b)
    calls.append(1)
    if torch.distributed.get_rank() == int(bad_rank) and len(calls) == int(bad_step):
        losses = losses * float("nan")
    return losses


SpaGanStep.losses = poisoned
train(load_config(ROOT / "params.yaml", overrides), data, out, device="cpu")
