"""Inference throughput: `translate` images/s and KID feature extraction images/s.

    python benchmarks/inference.py --size 256 --batch 8 --iters 3

Translation runs SPA-GAN at test time (source-D attention, G, target-D attention, F for the
reconstruction, as `spagan translate --save-attention` / `spagan evaluate` do) with the default
(paper-size) networks. Feature extraction runs Inception-v3 at 299 px with randomly initialised
weights written to a temp file and loaded by the real loader: the cost is the same as with the
real weights, which cannot be downloaded on an offline machine.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.config import load_config  # noqa: E402
from spagan.core.device import pick_device  # noqa: E402
from spagan.evaluation.metrics.features import build_inception, load_inception  # noqa: E402
from spagan.inference.translator import Translator  # noqa: E402
from spagan.models import build_networks  # noqa: E402


def timed(fn, iters: int, device: torch.device) -> float:
    """Median seconds of fn() over iters runs, after one warm-up."""
    fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    dev = pick_device(args.device)
    cfg = load_config(ROOT / "params.yaml", ["model.ngf=64", "model.n_blocks=9", f"train.image_size={args.size}",
                                                f"train.load_size={args.size}"])
    torch.manual_seed(0)
    nets = build_networks(cfg.model)
    translator = Translator(cfg, nets.state_dicts(), dev)
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    s = timed(lambda: translator.run(x, "a2b"), args.iters, dev)
    print(f"translate a2b (attention + G + reconstruction), {args.size}px batch {args.batch} on {dev}: "
          f"{args.batch / s:.2f} images/s ({s:.3f} s/batch)")

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "inception_random.pth"
        torch.save(build_inception("torchvision", 1000, aux_logits=True).state_dict(), weights)
        extractor = load_inception(str(weights), device=str(dev))
        s = timed(lambda: extractor(x), args.iters, dev)
    print(f"Inception-v3 pool features (299px), batch {args.batch} on {dev}: {args.batch / s:.2f} images/s "
          f"({s:.3f} s/batch)")


if __name__ == "__main__":
    main()
