"""CycleGAN's history of generated images (Shrivastava et al.), with a checkpointable state."""

import torch


class ImagePool:
    """Return either the new fake or, with probability 1/2 once full, a stored older one
    (which the new fake then replaces). Uses its own seeded generator so resuming is exact."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images for the discriminator step (detached)."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(1, generator=self.rng).item() > 0.5:
                idx = int(torch.randint(0, self.size, (1,), generator=self.rng).item())
                out.append(self.images[idx].clone())
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [t.cpu() for t in self.images], "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [t.to(device) for t in state["images"]]
        self.rng.set_state(state["rng"])
