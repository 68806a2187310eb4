"""`spagan export`: one ONNX graph (attention + generator) that ONNX Runtime runs with the same pixels."""


import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from spagan.config import load_config
from spagan.core.errors import SpaganError
from spagan.inference.translator import Translator
from spagan.models import build_networks
from spagan.models.checkpoint import save_checkpoint
from tests.conftest import ROOT, TINY_OVERRIDES, run_cli


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny random checkpoint exported once through the real CLI."""
    root = tmp_path_factory.mktemp("export")
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES)
    torch.manual_seed(0)
    nets = build_networks(cfg.model)
    ckpt = root / "checkpoint.pt"
    save_checkpoint({"networks": nets.state_dicts(), "config": cfg.to_dict()},
                    ckpt)
    out = root / "b2a.onnx"
    code, stdout, stderr = run_cli("export", "--checkpoint", ckpt, "--direction", "b2a", "--out", out)
    assert code == 0, stderr
    return ckpt, out, stdout


def test_cli_reports_the_largest_difference(exported):
    _, out, stdout = exported
    assert "largest difference" in stdout and str(out) in stdout
    diff = float(stdout.split("largest difference ")[1].split()[0])
    assert 0 <= diff <= 1e-4


def test_graph_has_dynamic_batch_height_width(exported):
    _, out, _ = exported
    model = onnx.load(str(out))
    (inp,) = model.graph.input
    assert inp.name == "image" and [o.name for o in model.graph.output] == ["translation", "attention"]
    dims = inp.type.tensor_type.shape.dim
    assert dims[1].dim_value == 3
    assert all(dims[i].dim_param and not dims[i].dim_value for i in (0, 2, 3))


@pytest.mark.parametrize("shape", [(2, 3, 48, 72), (2, 3, 100, 36)])
def test_onnx_runtime_equals_translator(exported, shape):
    ckpt, out, _ = exported
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    want = Translator.from_checkpoint(ckpt, "cpu").run(x, "b2a", reconstruct=False)
    fake, attn = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})
    assert fake.shape == shape and attn.shape == (shape[0], 1, *shape[2:])
    assert np.abs(fake - want.fake.numpy()).max() < 1e-3
    assert np.abs(attn - want.attention.numpy()).max() < 1e-3


def test_graph_that_disagrees_is_refused_and_not_written(exported, tmp_path, monkeypatch):
    import spagan.inference.export as export

    ckpt, out, _ = exported
    model = onnx.load(str(out))
    init = model.graph.initializer[0]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.5, init.name))
    monkeypatch.setattr(export, "graph_to_onnx", lambda graph, sample: model.SerializeToString())
    target = tmp_path / "bad.onnx"
    with pytest.raises(SpaganError, match=r"ONNX Runtime disagrees with PyTorch by .* not written"):
        export.export_onnx(ckpt, "b2a", target)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_corrupted_checkpoint_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    code, _, stderr = run_cli("export", "--checkpoint", bad, "--direction", "a2b", "--out", tmp_path / "g.onnx")
    assert code == 2
    assert stderr.strip().count("\n") == 0 and "not a readable checkpoint" in stderr
    assert not (tmp_path / "g.onnx").exists()
