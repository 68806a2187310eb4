"""Unpaired two-domain training data (CycleGAN's unaligned dataset), deterministic per epoch.

Every random choice of an item (which B image pairs with the i-th A image, crop offset, flip)
comes from a generator seeded by (seed, epoch, position), so an epoch can be resumed at any
position and the result does not depend on the number of loader workers.
"""

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from spagan.core.errors import SpaganError
from spagan.core.imageio import list_images, open_rgb, pil_to_tensor


def domain_files(data_dir: str | Path, split: str = "train") -> tuple[list[Path], list[Path]]:
    """The image files of <split>A and <split>B; SpaganError if a folder is missing or empty."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise SpaganError(f"{data_dir}: data folder not found")
    out = []
    for domain in ("A", "B"):
        folder = data_dir / f"{split}{domain}"
        if not folder.is_dir():
            raise SpaganError(f"{folder}: folder not found (expected CycleGAN layout {split}A/ {split}B/)")
        files = list_images(folder)
        if not files:
            raise SpaganError(f"{folder}: no images in domain {domain}")
        out.append(files)
    return out[0], out[1]


def _mix(*values: int) -> int:
    """A 63-bit seed from several integers (stable across runs and processes)."""
    h = 1469598103934665603
    for v in values:
        h = ((h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0x7FFFFFFFFFFFFFFF
    return h


class UnpairedEpoch(Dataset):
    """Items of one epoch, by position: dict(A=[3,S,S], B=[3,S,S]) in [-1, 1].

    The epoch length is max(|A|, |B|) as in CycleGAN; A is walked in a seeded permutation, B is
    drawn at random (unpaired).
    """

    def __init__(self, files_a: list[Path], files_b: list[Path], *, epoch: int, seed: int,
                 load_size: int, crop_size: int):
        if crop_size > load_size:
            raise SpaganError(f"train.image_size ({crop_size}) must not exceed train.load_size ({load_size})")
        self.files_a, self.files_b = files_a, files_b
        self.epoch, self.seed = epoch, seed
        self.load_size, self.crop_size = load_size, crop_size
        self.length = max(len(files_a), len(files_b))
        g = torch.Generator().manual_seed(_mix(seed, epoch, 0xA))
        self.perm_a = torch.randperm(len(files_a), generator=g).tolist()

    def __len__(self) -> int:
        return self.length

    def _augment(self, path: Path, g: torch.Generator) -> torch.Tensor:
        im = open_rgb(path).resize((self.load_size, self.load_size), Image.BICUBIC)
        span = self.load_size - self.crop_size
        x0, y0 = (torch.randint(0, span + 1, (2,), generator=g).tolist() if span else (0, 0))
        im = im.crop((x0, y0, x0 + self.crop_size, y0 + self.crop_size))
        if torch.rand(1, generator=g).item() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return pil_to_tensor(im)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pos = index
        g = torch.Generator().manual_seed(_mix(self.seed, self.epoch, pos))
        path_a = self.files_a[self.perm_a[pos % len(self.files_a)]]
        path_b = self.files_b[int(torch.randint(0, len(self.files_b), (1,), generator=g).item())]
        return {"A": self._augment(path_a, g), "B": self._augment(path_b, g)}


class UnpairedRun(Dataset):
    """The items of a whole run, in step order, for one process: item i is position j of the
    batch at global step start_step + i // batch (j = i % batch), taken from that step's epoch.

    One loader over the whole run keeps its workers and prefetch queue across epoch boundaries
    (a loader per epoch would restart its workers and drain its queue every epoch). Items are
    those of UnpairedEpoch, so the data is the same for any resume point and number of workers.
    Global step s of an epoch uses positions [s*B*W, (s+1)*B*W); this process takes its B-slice.
    """

    def __init__(self, files_a: list[Path], files_b: list[Path], *, seed: int, load_size: int, crop_size: int,
                 steps_per_epoch: int, start_step: int, end_step: int, batch: int, world: int = 1, rank: int = 0):
        self.files_a, self.files_b, self.seed = files_a, files_b, seed
        self.load_size, self.crop_size = load_size, crop_size
        self.steps_per_epoch, self.start_step, self.end_step = steps_per_epoch, start_step, end_step
        self.batch, self.world, self.rank = batch, world, rank
        self._epoch = UnpairedEpoch(files_a, files_b, epoch=start_step // steps_per_epoch, seed=seed,
                                    load_size=load_size, crop_size=crop_size)  # also checks the sizes up front

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step) * self.batch

    def epoch_data(self, epoch: int) -> UnpairedEpoch:
        """The UnpairedEpoch of `epoch`, kept while items of that epoch are asked for (they come in
        step order, so its permutation is drawn once per epoch and process)."""
        if self._epoch.epoch != epoch:
            self._epoch = UnpairedEpoch(self.files_a, self.files_b, epoch=epoch, seed=self.seed,
                                        load_size=self.load_size, crop_size=self.crop_size)
        return self._epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        step, j = divmod(index, self.batch)
        epoch, pos = divmod(self.start_step + step, self.steps_per_epoch)
        return self.epoch_data(epoch)[pos * self.batch * self.world + self.rank * self.batch + j]
