"""torch.hub entry point: a trained SPA-GAN as a ready Translator, from a checkout of this repo.

    import torch
    translator = torch.hub.load("path/to/spagan-pipeline", "spagan", source="local",
                                checkpoint="models/spagan", device="cpu")
    out = translator.run(images, "a2b")  # images [N, 3, H, W] in [-1, 1]; out.fake, out.attention

`checkpoint` is what `spagan translate --checkpoint` takes: a published model folder (its
model.safetensors), a model.safetensors or checkpoint.pt file, or a run folder.
"""

from pathlib import Path

# torch.hub checks these import names are installed before it calls an entry point.
dependencies = ["torch", "numpy", "yaml", "croniter", "safetensors"]

_HERE = Path(__file__).resolve().parent


def spagan(checkpoint: str | Path | None = None, device: str = "auto", post_hoc_blend: bool = False):
    """SPA-GAN's G, F, D_A and D_B in eval mode as a spagan.inference.translator.Translator.

    checkpoint: model folder or file (default: this checkout's models/spagan; a relative path is
        taken from the current directory). device: "auto" (cuda when present), "cpu" or "cuda[:N]".
    post_hoc_blend: blend every translation with the source discriminator's map, on a model not
        trained with model.attention_blend (as `spagan evaluate --post-hoc-blend`).
    """
    from spagan.inference.translator import Translator

    path = _HERE / "models" / "spagan" if checkpoint is None else Path(checkpoint)
    return Translator.from_checkpoint(path, device, post_hoc_blend=post_hoc_blend)
