"""`spagan export`: one direction of a checkpoint as an ONNX graph (attention + generator), verified in ONNX Runtime."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export one direction as an ONNX graph (checked in ONNX Runtime)")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt, model.safetensors or a model/run folder")
    p.add_argument("--direction", required=True, choices=("a2b", "b2a"))
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spagan.inference.export import export_onnx

    report = export_onnx(args.checkpoint, args.direction, args.out)
    print(f"ONNX Runtime vs PyTorch on {list(report.checked_shape)}: largest difference {report.max_abs_diff:.3g}")
    print(f"exported {args.direction} to {report.path} ({report.size_bytes / 2**20:.1f} MiB): input 'image' "
          f"[N, 3, H, W] in [-1, 1] (H, W multiples of 4), outputs 'translation', 'attention'")
    return 0
