"""Image pool: float32 storage whatever the precision of the fakes; exact state round trip."""

import torch

from spagan.training.image_pool import ImagePool


def test_pool_stores_float32_and_answers_in_the_callers_dtype():
    pool = ImagePool(2, seed=0)
    fakes = torch.rand(2, 3, 8, 8).to(torch.bfloat16)
    assert pool.query(fakes).dtype == torch.bfloat16
    assert all(t.dtype == torch.float32 for t in pool.images)
    assert all(t.dtype == torch.float32 for t in pool.state_dict()["images"])
    out = [pool.query(torch.rand(1, 3, 8, 8)) for _ in range(8)]  # fp32 caller, full pool
    assert all(o.dtype == torch.float32 for o in out)


def test_bf16_pool_state_loads_as_float32():
    # What a checkpoint written under bf16 autocast held before the pool cast on push.
    state = {"size": 2, "images": [torch.rand(1, 3, 8, 8).to(torch.bfloat16) for _ in range(2)],
             "rng": torch.Generator().manual_seed(3).get_state()}
    pool = ImagePool(2)
    pool.load_state_dict(state)
    assert all(t.dtype == torch.float32 for t in pool.images)
    out = [pool.query(torch.rand(1, 3, 8, 8)) for _ in range(8)]
    assert all(o.dtype == torch.float32 for o in out)


def test_state_round_trip_replays_the_same_choices():
    a = ImagePool(2, seed=5)
    for _ in range(3):
        a.query(torch.rand(1, 3, 4, 4))
    b = ImagePool(2)
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 4, 4)
    for _ in range(5):
        assert torch.equal(a.query(x), b.query(x))
