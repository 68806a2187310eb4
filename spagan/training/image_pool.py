"""CycleGAN's history of generated images (Shrivastava et al.), with a checkpointable state.

The pool stores float32 whatever precision produced the fakes: a run trained under bf16
autocast on a GPU and resumed in fp32 (for example `train.amp: auto` on a CPU) must not feed
bf16 images to an fp32 discriminator. Older checkpoints that saved bf16 images are cast on load.
"""

import torch


class ImagePool:
    """Return either the new fake or, with probability 1/2 once full, a stored older one
    (which the new fake then replaces). Uses its own seeded CPU generator so resuming is exact
    and drawing never waits for the GPU."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images for the discriminator step (detached), in the dtype of `images`."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.to(torch.float32, copy=True))
                out.append(image)
            elif torch.rand(1, generator=self.rng).item() > 0.5:
                idx = int(torch.randint(0, self.size, (1,), generator=self.rng).item())
                out.append(self.images[idx].to(images.dtype))
                self.images[idx] = image.to(torch.float32, copy=True)
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        """Size, stored images (float32, CPU) and the generator state."""
        return {"size": self.size, "images": [t.cpu() for t in self.images], "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        """Restore a state_dict(): images as float32 on `device`, the generator on the CPU."""
        self.size = state["size"]
        self.images = [t.to(device, torch.float32) for t in state["images"]]
        self.rng.set_state(state["rng"].to("cpu", torch.uint8))  # torch wants a CPU ByteTensor
