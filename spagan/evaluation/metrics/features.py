"""Inception-v3 pool features (2048-d) for KID, from weights on disk or fetched once and verified.

Two graphs share torchvision's ``Inception3`` layout and key names:

- ``fid`` (the default, ``eval.inception_weights``): the TensorFlow FID Inception (2015-12-05)
  ported by pytorch-fid (``pt_inception-2015-12-05-6726825d.pth``): 1008 classes and
  pytorch-fid's own patched blocks (``FIDInceptionA/C/E_1/E_2``, imported from pytorch_fid
  itself: average pools exclude padding, the last block max-pools). Every published KID/FID
  table of this family (pytorch-fid, clean-fid's legacy mode, torch-fidelity, the TF code
  AttentionGAN points to) uses it, so only its scores compare with papers.
- ``torchvision``: torchvision's ImageNet weights (``inception_v3_google-0cc3c7bd.pth``): a
  different network; its KID is not comparable with any published number.

A local ``.pth`` state_dict is loaded into whichever graph its keys fit (1008 classes: fid).
Images enter in [-1, 1] and are resized bilinearly to 299 x 299 (align_corners=False, no
antialias), as pytorch-fid's ``InceptionV3(resize_input=True, normalize_input=True)`` does:
pytorch-fid resizes [0, 1] input and then maps it to [-1, 1] with 2x - 1; bilinear weights sum
to one, so resizing [-1, 1] input directly is the same map (tests/test_features.py compares the
features with pytorch-fid's module on the same weights). torchvision's weights were also
trained on [-1, 1] input (its ``transform_input`` maps ImageNet-normalised input to that range).
Every score records this through :attr:`InceptionFeatures.identity`.

Translations are scored as the 8-bit images a saved PNG holds (spagan.core.imageio.quantise_8bit,
applied by the caller, spagan.evaluation.evaluate), real images as decoded from their files.

Weights are looked up in ``eval.weights_dir`` and torch hub's cache; where they are missing
and downloads are allowed (``eval.download_weights``, no ``$SPAGAN_OFFLINE``), the official
file (or ``eval.weights_url``, a mirror) is downloaded into torch hub's cache as torchvision
does and used only if its full sha256 is the published one.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2
from torch import nn
from torchvision.models.inception import Inception3

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write, file_sha256
from spagan.evaluation.metrics.download import OFFLINE_VAR, DownloadError, download_verified, downloads_allowed

log = logging.getLogger(__name__)

ENV_VAR = "SPAGAN_INCEPTION_WEIGHTS"
INPUT_SIZE = 299
RESIZE_RULE = "bilinear (align_corners=False, no antialias) to 299x299, input in [-1, 1]"


@dataclass(frozen=True)
class WeightsSource:
    """A known Inception weights file: its graph, file name, where to fetch it and its sha256."""

    graph: str
    file_name: str
    url: str
    sha256: str


KNOWN_WEIGHTS = {
    "torchvision": WeightsSource(
        "torchvision",
        "inception_v3_google-0cc3c7bd.pth",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        "0cc3c7bd75056d25e46cba549dc184522069b81e9787eff6df84f397bd52a5ef",  # 108,949,747 bytes
    ),
    "fid": WeightsSource(
        "fid",
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",  # 95,628,359 bytes
    ),
}


class WeightsUnavailable(SpaganError):
    """The Inception weights file cannot be found; `reason` says what is missing, `fix` what to do."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}; {fix}")
        self.reason = reason
        self.fix = fix


def hub_checkpoint_dir() -> Path:
    """torch hub's download cache (``$TORCH_HOME/hub/checkpoints``), where torchvision keeps weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(
    choice: str, weights_dir: str = "", *, download: bool = False, url: str = ""
) -> tuple[Path, str | None]:
    """Find the weights file for `choice` (torchvision | fid | a path) -> (path, graph or None).

    ``$SPAGAN_INCEPTION_WEIGHTS`` overrides the file; a named choice still fixes the graph,
    a path leaves it to be detected from the keys (None). A named choice missing from
    `weights_dir` and torch hub's cache is downloaded into the hub cache when `download` is
    true and ``$SPAGAN_OFFLINE`` is unset (from `url` if given, a mirror, else the official
    address; sha256-checked). Raises WeightsUnavailable naming the file(s) and folder(s)
    searched and how to provide them.
    """
    source = KNOWN_WEIGHTS.get(choice)
    graph = source.graph if source else None
    env = os.environ.get(ENV_VAR, "")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(f"{ENV_VAR}={env}: no such file", "unset it or point it at an Inception-v3 .pth")
        return path, graph
    if source is None:
        path = Path(choice).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(
                f"eval.inception_weights={choice}: no such file",
                f"set it to torchvision, fid or an existing .pth state_dict (or set {ENV_VAR})",
            )
        return path, None
    folders = ([Path(weights_dir).expanduser()] if weights_dir else []) + [hub_checkpoint_dir()]
    for folder in folders:
        if (folder / source.file_name).is_file():
            return folder / source.file_name, graph
    searched = ", ".join(str(f) for f in folders)
    fix = (f"fetch {source.url} on a machine with internet (file {source.file_name}, sha256 {source.sha256}) "
           f"and copy it into {folders[0]} (or set eval.weights_dir to its folder, or "
           f"{ENV_VAR}=/path/to/{source.file_name})")
    if not download:
        raise WeightsUnavailable(
            f"Inception weights '{source.file_name}' ({choice}) not found in {searched} "
            "(downloads are off: eval.download_weights is false)", fix)
    if not downloads_allowed():
        raise WeightsUnavailable(
            f"Inception weights '{source.file_name}' ({choice}) not found in {searched} "
            f"(downloads are off: {OFFLINE_VAR} is set)", fix)
    try:
        return download_verified(url or source.url, hub_checkpoint_dir() / source.file_name, source.sha256), graph
    except DownloadError as exc:
        raise WeightsUnavailable(f"Inception weights '{source.file_name}' ({choice}) not found in {searched} "
                                 f"and {exc}", fix) from None


def build_inception(graph: str, num_classes: int, aux_logits: bool) -> Inception3:
    """An uninitialised Inception3 in the given graph ("torchvision" or "fid")."""
    model = Inception3(num_classes=num_classes, aux_logits=aux_logits, transform_input=False, init_weights=False)
    if graph == "fid":
        # pytorch-fid's blocks (the reference port): average pools exclude padding, Mixed_7c max-pools
        model.Mixed_5b = FIDInceptionA(192, pool_features=32)
        model.Mixed_5c = FIDInceptionA(256, pool_features=64)
        model.Mixed_5d = FIDInceptionA(288, pool_features=64)
        model.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        model.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        model.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        model.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        model.Mixed_7b = FIDInceptionE_1(1280)
        model.Mixed_7c = FIDInceptionE_2(2048)
    elif graph != "torchvision":
        raise ValueError(f"unknown Inception graph {graph!r}")
    return model


def numerics_tag(device: str | torch.device) -> str:
    """Device type and float32 precision of a feature pass: 'cpu-fp32', 'cuda-tf32' or 'cuda-fp32'.

    The same image gives slightly different features on a GPU, where cuDNN runs float32
    convolutions in TF32 unless torch.backends.cudnn.allow_tf32 is off, than on a CPU; cached
    features from one must not be mixed into a KID computed on the other.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"cuda-{'tf32' if torch.backends.cudnn.allow_tf32 else 'fp32'}"
    return f"{dev.type}-fp32"


class InceptionFeatures:
    """Callable mapping images [N, 3, H, W] in [-1, 1] to pool features [N, 2048] (float64)."""

    def __init__(self, model: nn.Module, identity: dict[str, str], device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.identity = identity  # backbone, graph, weights file and sha256, resize rule, numerics
        self.device = device

    @property
    def cache_namespace(self) -> str:
        """Folder name for cached features: changes whenever the weights, the graph, the device
        type or the float32 precision (TF32 on CUDA) change."""
        return f"{self.identity['graph']}-{self.identity['weights_sha256']}-{numerics_tag(self.device)}"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [N, 3, H, W], got {tuple(images.shape)}")
        # contiguous: the same pixels give the same features bit for bit whatever the tensor's strides
        # (a decoded file is a permuted view, a translation is not)
        x = images.to(self.device, torch.float32).contiguous()
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self.model(x).double().cpu().numpy()


def load_inception(
    choice: str = "fid", weights_dir: str = "", device: str = "cpu", *, download: bool = False, url: str = ""
) -> InceptionFeatures:
    """Build the feature extractor from a weights file on disk or downloaded (see :func:`resolve_weights`).

    The state_dict is read with ``torch.load(weights_only=True)`` and must match the graph's
    keys exactly; otherwise SpaganError names the file and the first mismatching keys.
    """
    path, graph = resolve_weights(choice, weights_dir, download=download, url=url)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise SpaganError(f"{path}: cannot read Inception weights: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if not isinstance(fc, torch.Tensor) or tuple(fc.shape[1:]) != (2048,):
        raise SpaganError(f"{path}: not an Inception-v3 state_dict (no fc.weight of shape [classes, 2048])")
    if graph is None:
        graph = "fid" if fc.shape[0] == 1008 else "torchvision"
    aux = any(k.startswith("AuxLogits.") for k in state)
    model = build_inception(graph, num_classes=int(fc.shape[0]), aux_logits=aux)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SpaganError(
            f"{path}: keys do not match the {graph} Inception-v3 graph (missing: {result.missing_keys[:3]}, "
            f"unexpected: {result.unexpected_keys[:3]})"
        )
    model.fc = nn.Identity()  # keep the 2048-d pool3 features
    model.dropout = nn.Identity()
    identity = {
        "backbone": "inception_v3 pool3 (2048-d)",
        "graph": graph,
        "weights_file": path.name,
        "weights_sha256": file_sha256(path)[:16],
        "resize": RESIZE_RULE,
        "numerics": numerics_tag(device),
    }
    log.info("Inception features: %s weights %s (sha256 %s)", graph, path, identity["weights_sha256"])
    return InceptionFeatures(model, identity, device)


# --- cache: features of unchanged images under unchanged weights are read back, not recomputed ---


def tensor_key(image: torch.Tensor) -> str:
    """Content key of one image tensor (sha256 of its float32 bytes)."""
    return hashlib.sha256(image.detach().to(torch.float32).cpu().contiguous().numpy().tobytes()).hexdigest()


class FeatureCache:
    """Per-image feature vectors as ``<root>/<namespace>/<key>.npy`` (written atomically).

    `namespace` identifies the extractor (graph + weights sha + device and precision), `key` the image content
    (and its load size), so a change of either misses. ``hits``/``misses`` count lookups.
    """

    def __init__(self, root: Path, namespace: str) -> None:
        self.folder = Path(root) / namespace
        self.hits = 0
        self.misses = 0

    def has(self, key: str) -> bool:
        """Whether a vector for `key` is stored (not counted as a lookup)."""
        return (self.folder / f"{key}.npy").is_file()

    def get(self, key: str) -> np.ndarray | None:
        """The stored vector for `key`, or None (a corrupt file counts as missing)."""
        path = self.folder / f"{key}.npy"
        if path.is_file():
            try:
                value = np.load(path, allow_pickle=False)
                self.hits += 1
                return value
            except (OSError, ValueError):
                log.warning("feature cache: ignoring unreadable %s", path)
        self.misses += 1
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        """Store `value` for `key` (written atomically)."""
        atomic_write(self.folder / f"{key}.npy", lambda f: np.save(f, np.asarray(value), allow_pickle=False))


def extract_features(
    extractor: InceptionFeatures,
    images: torch.Tensor,
    keys: list[str] | None = None,
    cache: FeatureCache | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """Features [N, 2048] of `images` [N, 3, H, W] in [-1, 1], computing only cache misses.

    `keys` name each image's content for the cache (default: :func:`tensor_key`).
    """
    n = len(images)
    out: list[np.ndarray | None] = [None] * n
    if cache is not None:
        keys = keys if keys is not None else [tensor_key(img) for img in images]
        if len(keys) != n:
            raise ValueError(f"{len(keys)} keys for {n} images")
        out = [cache.get(k) for k in keys]
    todo = [i for i in range(n) if out[i] is None]
    for start in range(0, len(todo), max(1, batch_size)):
        idx = todo[start : start + max(1, batch_size)]
        feats = extractor(images[idx])
        for i, f in zip(idx, feats):
            out[i] = f
            if cache is not None and keys is not None:
                cache.put(keys[i], f)
    log.debug("features: %d computed, %d from cache", len(todo), n - len(todo))
    return np.stack(out) if n else np.zeros((0, 2048))  # type: ignore[arg-type]
