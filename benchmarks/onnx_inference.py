"""ONNX Runtime vs PyTorch eager: images/s of the exported translation graph on CPU, same run.

    python benchmarks/onnx_inference.py --size 256 --batch 1 --iters 5 --rounds 2

Paper-size networks (ngf 64, 9 blocks, ndf 64; random weights: the cost is the same as
trained ones). Both sides run what `spagan translate` runs per image: the source
discriminator's attention, then the generator (no reconstruction). PyTorch eager is
`Translator.run(..., reconstruct=False)`; ONNX Runtime runs the graph `spagan export` writes,
built by the same code, with as many intra-op threads as torch uses. The two are measured
alternately, one call each in turn (rounds x iters pairs), so load from other processes hits
both alike; reported: the median seconds of each and the median of the per-pair ratios. The
outputs are checked to agree first.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spagan.config import load_config  # noqa: E402
from spagan.inference.export import compare_with_pytorch, graph_to_onnx, translation_graph  # noqa: E402
from spagan.inference.translator import Translator  # noqa: E402
from spagan.models import build_networks  # noqa: E402


def seconds(fn) -> float:
    """Wall seconds of one call of fn()."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    import onnxruntime as ort

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--n-blocks", type=int, default=9)
    args = p.parse_args()
    threads = torch.get_num_threads()
    cfg = load_config(ROOT / "params.yaml", [f"model.ngf={args.ngf}", f"model.n_blocks={args.n_blocks}",
                                             "model.ndf=64"])
    torch.manual_seed(0)
    nets = build_networks(cfg.model)
    translator = Translator(cfg, nets.state_dicts(), "cpu")
    graph = translation_graph(translator, "a2b")
    model = graph_to_onnx(graph, torch.rand(1, 3, 64, 64) * 2 - 1)
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    diff = compare_with_pytorch(model, graph, x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy()}

    def eager():
        translator.run(x, "a2b", reconstruct=False)

    def onnx():
        session.run(None, feed)

    eager(), onnx()  # warm-up
    times: dict[str, list[float]] = {"eager": [], "onnx": []}
    for _ in range(args.rounds * args.iters):
        times["eager"].append(seconds(eager))
        times["onnx"].append(seconds(onnx))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = statistics.median(e / o for e, o in zip(times["eager"], times["onnx"]))
    print(f"{args.size}px batch {args.batch}, ngf {args.ngf}, {args.n_blocks} blocks, CPU, {threads} threads; "
          f"largest |ORT - PyTorch| {diff:.2g}")
    for name, label in (("eager", "PyTorch eager"), ("onnx", f"ONNX Runtime {ort.__version__}")):
        print(f"  {label:24s} {med[name]:.3f} s/batch  {args.batch / med[name]:.2f} images/s")
    print(f"  ONNX Runtime speed-up: {med['eager'] / med['onnx']:.2f}x (ratio of medians), "
          f"{ratio:.2f}x (median of {len(times['eager'])} paired ratios)")


if __name__ == "__main__":
    main()
