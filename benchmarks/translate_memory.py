"""Peak memory of one CPU translation (attention + G, as `spagan translate` runs it), per size and ngf.

    python benchmarks/translate_memory.py --sizes 256 512 --ngf 16 64

Each measurement runs in a fresh process: the networks are built and loaded first, then one
image is translated; the figure is the rise of the peak resident set size (ru_maxrss) over the
resident set after loading, i.e. what the pass itself needs. `spagan.inference.memory` fits its
per-pixel model to these numbers (bytes per pixel = a + b * ngf).
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_bytes() -> int:
    """Current resident set of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def worker(size: int, ngf: int, width: int) -> dict:
    """Measure in this process (called in a fresh subprocess)."""
    sys.path.insert(0, str(ROOT))
    import torch

    from spagan.config import load_config
    from spagan.inference.translator import Translator
    from spagan.models import build_networks

    torch.set_num_threads(2)
    cfg = load_config(ROOT / "params.yaml", [f"model.ngf={ngf}", "model.n_blocks=9"])
    nets = build_networks(cfg.model)
    translator = Translator(cfg, nets.state_dicts(), "cpu")
    x = torch.rand(1, 3, size, width) * 2 - 1
    before = _rss_bytes()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    translator.run(x, "a2b", reconstruct=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rise = peak - max(before, 0) if peak > peak_before else 0
    return {"height": size, "width": width, "ngf": ngf, "pixels": size * width, "rise_bytes": rise,
            "bytes_per_pixel": rise / (size * width)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--ngf", type=int, nargs="+", default=[16, 64])
    p.add_argument("--worker", nargs=3, type=int, metavar=("SIZE", "NGF", "WIDTH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    for ngf in args.ngf:
        for size in args.sizes:
            out = subprocess.run([sys.executable, __file__, "--worker", str(size), str(ngf), str(size)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"ngf {ngf:3d}  {size}x{size}  peak rise {row['rise_bytes'] / 2**20:8.1f} MiB  "
                  f"{row['bytes_per_pixel']:7.1f} bytes/pixel", flush=True)


if __name__ == "__main__":
    main()
