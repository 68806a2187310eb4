"""Image files <-> tensors in [-1, 1], with atomic writes."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_bytes
from spagan.core.image_formats import IMAGE_EXTS


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly or recursively under `folder`, sorted; error if the folder is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpaganError(f"{folder}: folder not found")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def open_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB with EXIF orientation applied; SpaganError naming the file if unreadable."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SpaganError(f"{path}: cannot read image ({exc})") from None


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor [3, H, W] in [-1, 1]."""
    arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor [3, H, W] in [-1, 1] -> RGB PIL image (values clamped)."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB")


def quantise_8bit(t: torch.Tensor) -> torch.Tensor:
    """`t` in [-1, 1] as it reads back after :func:`save_image` to PNG and :func:`load_image`: clamped,
    rounded to 8 bits as :func:`tensor_to_pil` does, and mapped back as :func:`pil_to_tensor` does
    (the same operations in the same order, so the result is bitwise that of the saved file)."""
    levels = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return levels.float().div_(127.5).sub_(1.0)


def load_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """Read an image as [3, H, W] in [-1, 1], resized (bicubic) to size x size if given."""
    im = open_rgb(path)
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), Image.BICUBIC)
    return pil_to_tensor(im)


def load_image_fitted(path: str | Path, longer_side: int | None = None) -> torch.Tensor:
    """Read an image as [3, H, W] in [-1, 1] at its own size, or (bicubic) scaled so its longer
    side is `longer_side`, aspect kept."""
    from spagan.core.sizing import fit_longer_side

    im = open_rgb(path)
    size = fit_longer_side(*im.size, longer_side)
    if size != im.size:
        im = im.resize(size, Image.BICUBIC)
    return pil_to_tensor(im)


# EXIF orientations 5-8 rotate by 90 degrees: width and height swap once applied
_TRANSPOSED = {5, 6, 7, 8}


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image as :func:`open_rgb` returns it, read from the header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(0x0112) in _TRANSPOSED:
                w, h = h, w
            return w, h
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SpaganError(f"{path}: cannot read image ({exc})") from None


def save_pil(im: Image.Image, path: str | Path) -> None:
    """Save a PIL image atomically; the format follows the file extension (PNG by default)."""
    import io

    buf = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(Path(path).suffix.lower(), "PNG")
    im.save(buf, format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def save_image(t: torch.Tensor, path: str | Path) -> None:
    """Save a [3, H, W] tensor in [-1, 1] atomically as an image file."""
    save_pil(tensor_to_pil(t), path)
