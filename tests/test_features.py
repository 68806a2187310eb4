"""Inception feature loading from weights files the test writes, the missing-weights error, the cache."""

import numpy as np
import pytest
import torch
from torchvision.models.inception import Inception3

from spagan.core.errors import SpaganError
from spagan.evaluation.metrics.features import (
    ENV_VAR,
    KNOWN_WEIGHTS,
    FeatureCache,
    WeightsUnavailable,
    build_inception,
    extract_features,
    file_sha256,
    load_inception,
    numerics_tag,
)


@pytest.fixture(autouse=True)
def _isolated_hub(isolated_torch_hub):
    return isolated_torch_hub


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Random-init weights in both official layouts, under their official file names."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    tv = Inception3(num_classes=1000, aux_logits=True, init_weights=False)  # torchvision's file has AuxLogits
    torch.save(tv.state_dict(), folder / KNOWN_WEIGHTS["torchvision"].file_name)
    fid = build_inception("fid", num_classes=1008, aux_logits=False)
    torch.save(fid.state_dict(), folder / KNOWN_WEIGHTS["fid"].file_name)
    return folder


@pytest.fixture(scope="module")
def tv_extractor(weights_dir):
    return load_inception("torchvision", weights_dir=str(weights_dir))


def _images(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g) * 2 - 1


@pytest.mark.parametrize("choice", ["torchvision", "fid"])
def test_missing_weights_error_says_exactly_how_to_fix(tmp_path, choice):
    empty = tmp_path / "empty"
    with pytest.raises(WeightsUnavailable) as info:
        load_inception(choice, weights_dir=str(empty))
    msg = str(info.value)
    src = KNOWN_WEIGHTS[choice]
    assert src.file_name in msg and src.url in msg and ENV_VAR in msg
    assert str(empty) in msg and str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
    assert isinstance(info.value, SpaganError)


def test_missing_path_and_env_var_are_reported(tmp_path, monkeypatch):
    with pytest.raises(WeightsUnavailable, match="nope.pth"):
        load_inception(str(tmp_path / "nope.pth"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.pth"))
    with pytest.raises(WeightsUnavailable, match=f"{ENV_VAR}=.*gone.pth"):
        load_inception("torchvision")


def test_torchvision_weights_load_from_weights_dir_and_give_2048d_features(weights_dir, tv_extractor):
    ext = tv_extractor
    feats = ext(_images())
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()
    assert np.allclose(ext(_images()), feats)  # eval mode: deterministic
    path = weights_dir / KNOWN_WEIGHTS["torchvision"].file_name
    assert ext.identity["weights_file"] == path.name
    assert ext.identity["weights_sha256"] == file_sha256(path)[:16]
    assert ext.identity["graph"] == "torchvision" and "299" in ext.identity["resize"]


def test_hub_cache_and_env_var_and_plain_path_are_found(weights_dir, tmp_path, monkeypatch):
    src = weights_dir / KNOWN_WEIGHTS["fid"].file_name
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / src.name).symlink_to(src)
    from_hub = load_inception("fid")
    assert from_hub.identity["graph"] == "fid"
    assert type(from_hub.model.Mixed_7c).__name__ == "FIDInceptionE_2"  # pytorch-fid's max-pooling block
    # a plain path is detected as the FID graph from its 1008 classes
    assert load_inception(str(src)).identity["graph"] == "fid"
    monkeypatch.setenv(ENV_VAR, str(weights_dir / KNOWN_WEIGHTS["torchvision"].file_name))
    assert load_inception(str(tmp_path / "ignored.pth")).identity["graph"] == "torchvision"


def test_fid_graph_pools_differently_from_torchvision_graph(weights_dir):
    state = torch.load(weights_dir / KNOWN_WEIGHTS["fid"].file_name, weights_only=True)
    tv_graph = build_inception("torchvision", 1008, aux_logits=False)
    tv_graph.load_state_dict(state)
    tv_graph.fc = torch.nn.Identity()
    fid = load_inception("fid", weights_dir=str(weights_dir))
    x = torch.nn.functional.interpolate(_images(2), size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        same_weights_tv = tv_graph.eval()(x).double().numpy()
    assert not np.allclose(fid(_images(2)), same_weights_tv)


def test_wrong_state_dict_is_a_user_error_naming_the_file(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048), "conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(SpaganError, match="resnet.pth.*do not match"):
        load_inception(str(bad))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(SpaganError, match="junk.pth: cannot read"):
        load_inception(str(junk))


def test_cache_recomputes_nothing_for_unchanged_images(tv_extractor, tmp_path):
    ext = tv_extractor
    imgs = _images(3)
    cache = FeatureCache(tmp_path / "cache", ext.cache_namespace)
    first = extract_features(ext, imgs, cache=cache, batch_size=2)
    assert (cache.hits, cache.misses) == (0, 3)
    again_cache = FeatureCache(tmp_path / "cache", ext.cache_namespace)
    again = extract_features(ext, imgs, cache=again_cache)
    assert (again_cache.hits, again_cache.misses) == (3, 0)
    np.testing.assert_array_equal(first, again)
    changed = imgs.clone()
    changed[0] += 0.01
    extract_features(ext, changed, cache=again_cache)
    assert again_cache.misses == 1
    np.testing.assert_allclose(extract_features(ext, imgs[1:2]), first[1:2], rtol=1e-5, atol=1e-6)


def test_cache_is_keyed_by_device_type_and_precision(tv_extractor, monkeypatch):
    # Features computed on a GPU (TF32 convolutions by default) differ slightly from CPU ones:
    # a KID must never mix the two through the cache.
    assert tv_extractor.cache_namespace.endswith("-cpu-fp32")
    assert tv_extractor.identity["numerics"] == "cpu-fp32"
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    assert numerics_tag("cuda") == numerics_tag("cuda:1") == "cuda-tf32"
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    assert numerics_tag("cuda") == "cuda-fp32"
    assert len({numerics_tag("cpu"), "cuda-tf32", "cuda-fp32"}) == 3
