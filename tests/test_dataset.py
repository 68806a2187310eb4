"""Training data for a whole run: same items as the per-epoch dataset, one loader, any workers."""

import pytest
import torch
from torch.utils.data import DataLoader

from spagan.core.errors import SpaganError
from spagan.training.dataset import UnpairedEpoch, UnpairedRun, domain_files


def run_items(files_a, files_b, **kw):
    ds = UnpairedRun(files_a, files_b, seed=3, load_size=36, crop_size=32, **kw)
    return ds, [ds[i] for i in range(len(ds))]


def test_run_items_are_the_epoch_items_in_step_order(tiny_data):
    files_a, files_b = domain_files(tiny_data)
    # 4 images, batch 2, 2 processes: 1 step per epoch; rank 1 takes positions 2 and 3.
    ds, items = run_items(files_a, files_b, steps_per_epoch=1, start_step=1, end_step=3, batch=2, world=2, rank=1)
    assert len(ds) == 4
    for i, (epoch, pos) in enumerate([(1, 2), (1, 3), (2, 2), (2, 3)]):
        expected = UnpairedEpoch(files_a, files_b, epoch=epoch, seed=3, load_size=36, crop_size=32)[pos]
        assert torch.equal(items[i]["A"], expected["A"]) and torch.equal(items[i]["B"], expected["B"])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_resumed_run_continues_the_same_sequence(tiny_data):
    files_a, files_b = domain_files(tiny_data)
    _, whole = run_items(files_a, files_b, steps_per_epoch=4, start_step=0, end_step=10, batch=1)
    _, tail = run_items(files_a, files_b, steps_per_epoch=4, start_step=6, end_step=10, batch=1)
    for a, b in zip(whole[6:], tail):
        assert torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"])
    # Epochs differ: a new permutation and new crops/flips.
    assert any(not torch.equal(whole[i]["A"], whole[i + 4]["A"]) for i in range(4))


def test_loader_workers_give_the_same_batches(tiny_data):
    files_a, files_b = domain_files(tiny_data)
    ds, _ = run_items(files_a, files_b, steps_per_epoch=2, start_step=0, end_step=5, batch=2)
    main = list(DataLoader(ds, batch_size=2, num_workers=0))
    workers = list(DataLoader(ds, batch_size=2, num_workers=2, prefetch_factor=2))
    assert len(main) == len(workers) == 5
    for a, b in zip(main, workers):
        assert torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"])


def test_crop_larger_than_load_is_refused_up_front(tiny_data):
    files_a, files_b = domain_files(tiny_data)
    with pytest.raises(SpaganError, match="must not exceed"):
        UnpairedRun(files_a, files_b, seed=0, load_size=32, crop_size=36, steps_per_epoch=1, start_step=0,
                    end_step=1, batch=1)
