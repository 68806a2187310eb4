"""Export one translation direction as a single ONNX graph: source-D attention (Eq. 1-2) + generator.

The graph takes ``image`` [N, 3, H, W] in [-1, 1] (N, H and W dynamic; H and W multiples of 4)
and returns ``translation`` [N, 3, H, W] in [-1, 1] and ``attention`` [N, 1, H, W] in [0, 1],
so a model runs anywhere ONNX Runtime does, without this code base. Before the file is
written the graph runs in ONNX Runtime on a sample at a size other than the traced one and
is compared with PyTorch; a graph that disagrees is never written.
"""

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from spagan.core.errors import SpaganError
from spagan.core.fileio import atomic_write_bytes
from spagan.inference.translator import DIRECTIONS, Translator
from spagan.models import Discriminator, Generator, attended_translation

log = logging.getLogger(__name__)

TOLERANCE = 1e-4  # largest |ONNX Runtime - PyTorch| accepted, on outputs in [-1, 1]
OPSET = 18
INPUT_NAME, OUTPUT_NAMES = "image", ("translation", "attention")
# the exporter's optimiser logs every pass at INFO; the CLI logs at INFO, so hush them
_CHATTY_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")


class TranslationGraph(nn.Module):
    """The test-time path of one direction as one module: attention of the source
    discriminator multiplies the input, the generator translates it (paper Eq. 1-2), blended
    with the input when the model was trained with model.attention_blend."""

    def __init__(self, discriminator: Discriminator, generator: Generator, attention: bool, blend: bool = False):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.attention = attention
        self.blend = blend

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.attention:
            attn = self.discriminator.attention(image)
        else:
            attn = torch.ones_like(image[:, :1])
        return attended_translation(self.generator, image, attn, self.blend and self.attention), attn


def translation_graph(translator: Translator, direction: str) -> TranslationGraph:
    """The module for `direction` (a2b: D_A + G; b2a: D_B + F), on the CPU in eval mode."""
    if direction not in DIRECTIONS:
        raise SpaganError(f"direction must be a2b or b2a, got {direction!r}")
    n = translator.nets
    disc, gen = (n.D_A, n.G) if direction == "a2b" else (n.D_B, n.F)
    model = translator.cfg.model
    return TranslationGraph(disc, gen, model.attention, model.attention_blend).cpu().eval()


@dataclass
class ExportReport:
    """What was written and how closely ONNX Runtime reproduced PyTorch."""

    path: Path
    max_abs_diff: float
    checked_shape: tuple[int, ...]
    size_bytes: int


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Raise the exporter's loggers to WARNING for the duration (restored afterwards)."""
    levels = {name: logging.getLogger(name).level for name in _CHATTY_LOGGERS}
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def graph_to_onnx(graph: TranslationGraph, sample: torch.Tensor) -> bytes:
    """torch.onnx.export (dynamo) with dynamic batch, height and width (multiples of 4)."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = 4 * torch.export.Dim("height_div4", min=4, max=4096)
    width = 4 * torch.export.Dim("width_div4", min=4, max=4096)
    with _quiet_exporter(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.onnx"
        program = torch.onnx.export(graph, (sample,), dynamo=True, opset_version=OPSET,
                                    input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                                    dynamic_shapes={"image": {0: batch, 2: height, 3: width}},
                                    external_data=False, verbose=False)
        program.save(str(path), external_data=False)
        return path.read_bytes()


def compare_with_pytorch(model_bytes: bytes, graph: TranslationGraph, sample: torch.Tensor) -> float:
    """Largest |difference| between ONNX Runtime's and PyTorch's outputs on `sample`."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: sample.numpy()})
    with torch.no_grad():
        want = graph(sample)
    return max(float((torch.from_numpy(g) - w).abs().max()) for g, w in zip(got, want))


def export_onnx(checkpoint: str | Path, direction: str, out: str | Path, *, tolerance: float = TOLERANCE,
                seed: int = 0) -> ExportReport:
    """Export `direction` of `checkpoint` to `out` (.onnx), verified in ONNX Runtime first.

    Traced at 2 x 64 x 64; checked at 2 x 3 x 68 x 92 (another height, width and aspect, so
    a shape baked in at tracing fails the check). Raises SpaganError, leaving `out` untouched,
    when the largest difference exceeds `tolerance`.
    """
    translator = Translator.from_checkpoint(checkpoint, "cpu")
    graph = translation_graph(translator, direction)
    gen = torch.Generator().manual_seed(seed)
    trace_sample = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    check_sample = torch.rand(2, 3, 68, 92, generator=gen) * 2 - 1
    try:
        model_bytes = graph_to_onnx(graph, trace_sample)
    except Exception as exc:  # noqa: BLE001 - exporter failures come in many types
        raise SpaganError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    diff = compare_with_pytorch(model_bytes, graph, check_sample)
    log.debug("ONNX Runtime vs PyTorch at %s: largest difference %.3g", tuple(check_sample.shape), diff)
    if not diff <= tolerance:  # also refuses NaN
        raise SpaganError(f"ONNX Runtime disagrees with PyTorch by {diff:.3g} (tolerance {tolerance:g}) "
                          f"at {tuple(check_sample.shape)}; {out} not written")
    atomic_write_bytes(out, model_bytes)
    return ExportReport(Path(out), diff, tuple(check_sample.shape), os.path.getsize(out))
