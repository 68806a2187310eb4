"""`spagan translate`: translate a folder with the attention of the source discriminator."""

import argparse

from tqdm import tqdm


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate every image of a folder with a trained checkpoint")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt, model.safetensors or a model/run folder")
    p.add_argument("--direction", required=True, choices=("a2b", "b2a"))
    p.add_argument("--input", required=True, help="folder of images (any sizes)")
    p.add_argument("--output", required=True, help="folder for the translations (PNG, each at its input's size)")
    p.add_argument("--save-attention", action="store_true", help="also write <name>_attention.png")
    p.add_argument("--size", type=int, default=None,
                   help="scale each image so its longer side is SIZE px, aspect kept (default: its own size)")
    p.add_argument("--batch-size", type=int, default=8, help="images of the same size per pass (default: 8)")
    p.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                   help="memory the translation may use (default: 90%% of what the device has free)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spagan.inference.translate import GIB, translate_folder

    limit = None if args.max_memory is None else int(args.max_memory * GIB)
    bar: tqdm | None = None

    def tick(_path: object) -> None:
        nonlocal bar  # the bar appears with the first image: a refusal before it stays one line
        if bar is None:
            bar = tqdm(desc="translate", unit="img", dynamic_ncols=True)
        bar.update(1)

    try:
        written = translate_folder(args.checkpoint, args.direction, args.input, args.output,
                                   save_attention=args.save_attention, size=args.size,
                                   batch_size=max(1, args.batch_size), device=args.device,
                                   memory_limit=limit, on_image=tick)
    finally:
        if bar is not None:
            bar.close()
    print(f"translated {len(written)} images into {args.output}")
    return 0
