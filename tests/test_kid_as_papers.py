"""KID as papers compute it: the FID Inception by default and equal to pytorch-fid's module on the
same weights, translations scored as the 8-bit PNGs they are saved as, and the sample (subsets,
subset size, image counts, a clipped size said) recorded and printed next to every KID."""

import numpy as np
import pytest
import torch
from pytorch_fid.inception import FID_WEIGHTS_URL, InceptionV3

from spagan.config import load_config
from spagan.core.imageio import load_image, load_image_fitted, quantise_8bit, save_image
from spagan.evaluation.evaluate import evaluate
from spagan.evaluation.metrics.features import (
    KNOWN_WEIGHTS,
    WeightsUnavailable,
    build_inception,
    extract_features,
    hub_checkpoint_dir,
    load_inception,
)
from spagan.evaluation.metrics.kid import kid_from_features, kid_sample
from spagan.evaluation.report import kid_text, report_rows
from spagan.inference.translator import Translator
from spagan.training.loop import train
from tests.conftest import ROOT, TINY_OVERRIDES, write_tiny_domains

FID = KNOWN_WEIGHTS["fid"]


@pytest.fixture(autouse=True)
def _no_real_weights(isolated_torch_hub):
    return isolated_torch_hub


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory):
    """Random weights in the FID layout under the official file name (written once per module)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fid_weights") / FID.file_name
    torch.save(build_inception("fid", num_classes=1008, aux_logits=False).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def fid_extractor(fid_weights):
    return load_inception("fid", weights_dir=str(fid_weights.parent))


def _in_hub(weights):
    """The weights in torch hub's (isolated) cache, where pytorch-fid (load_state_dict_from_url,
    cache first) and spagan both look."""
    hub_checkpoint_dir().mkdir(parents=True, exist_ok=True)
    (hub_checkpoint_dir() / weights.name).symlink_to(weights)


def test_the_default_is_the_fid_inception_and_missing_weights_say_how_to_provide_them(tmp_path):
    cfg = load_config(ROOT / "params.yaml").eval
    assert cfg.inception_weights == "fid"
    with pytest.raises(WeightsUnavailable) as info:
        load_inception(cfg.inception_weights, weights_dir=str(tmp_path / "weights"))
    fix = info.value.fix
    assert FID.file_name in fix and FID.sha256 in fix and str(tmp_path / "weights") in fix and FID.url in fix


def test_fid_graph_equals_pytorch_fids_module_on_the_same_weights(fid_weights, fid_extractor):
    """pytorch-fid's InceptionV3 (resize to 299 bilinear, [0, 1] -> [-1, 1], its FID blocks) and
    ours, on the same weights, give the same pool features for images of another size."""
    assert FID_WEIGHTS_URL.endswith(FID.file_name)  # the same file pytorch-fid fetches
    _in_hub(fid_weights)
    ours = fid_extractor
    reference = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()  # loads from the hub cache: offline
    g = torch.Generator().manual_seed(1)
    images = torch.rand(1, 3, 40, 32, generator=g) * 2 - 1  # one image: each Inception pass is seconds on CPU
    with torch.no_grad():
        expected = reference((images + 1) / 2)[0].squeeze(-1).squeeze(-1).double().numpy()
    got = ours(images)
    assert got.shape == expected.shape == (1, 2048)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    # the check can fail: torchvision's blocks on the same weights give other features
    tv = build_inception("torchvision", 1008, aux_logits=False)
    tv.load_state_dict(torch.load(fid_weights, weights_only=True))
    tv.fc = torch.nn.Identity()
    with torch.no_grad():
        x = torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        other = tv.eval()(x).double().numpy()
    assert not np.allclose(other, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_a_translation_is_scored_as_the_png_it_is_saved_as(fid_extractor, tmp_path):
    """quantise_8bit equals saving to PNG and reading back, bit for bit, and so do the features."""
    ext = fid_extractor
    g = torch.Generator().manual_seed(2)
    fake = torch.tanh(torch.randn(1, 3, 40, 40, generator=g) * 2)  # a generator's output: floats in (-1, 1)
    save_image(fake[0], tmp_path / "fake.png")
    reread = load_image(tmp_path / "fake.png")[None]
    quantised = torch.stack([quantise_8bit(img) for img in fake])
    assert torch.equal(quantised, reread)
    np.testing.assert_array_equal(extract_features(ext, quantised), extract_features(ext, reread))
    assert not np.array_equal(extract_features(ext, fake), extract_features(ext, reread))  # floats differ


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("kidpapers")
    data = write_tiny_domains(root / "data", n=4)
    write_tiny_domains(root / "more", n=6)
    for i in range(4, 6):  # testB has 6 images, testA 4: the clipped subset is said
        (data / "testB" / f"{i:03d}.png").write_bytes((root / "more" / "testB" / f"{i:03d}.png").read_bytes())
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES + ["train.max_steps=2"])
    return data, train(cfg, data, root / "run", device="cpu").checkpoint


@pytest.mark.slow  # 20 Inception passes and a 2-step training on CPU (about 100 s on a loaded 2-core machine)
def test_evaluate_scores_saved_translations_and_records_the_sample(trained, fid_weights, tmp_path):
    data, ckpt = trained
    _in_hub(fid_weights)
    cfg = load_config(ROOT / "params.yaml", ["eval.kid_subsets=7", "eval.gallery_size=0"]).eval
    metrics = evaluate(cfg, ckpt, data, tmp_path / "out", device="cpu")
    kid = metrics["a2b"]["kid_x100"]
    assert metrics["settings"]["features"]["graph"] == "fid"
    assert {k: kid[k] for k in ("subsets", "subset_size", "n_translations", "n_real", "subset_size_requested")} == {
        "subsets": 7, "subset_size": 4, "n_translations": 4, "n_real": 6, "subset_size_requested": 1000}
    assert kid["note"] == "subsets of 4 = all translations: the std reflects only the resampling of the real images"
    # the same KID from the translations saved as PNG files and read back
    ext = load_inception("fid")  # from the hub cache, as evaluate found it
    translator = Translator.from_checkpoint(ckpt, device="cpu")
    sources = sorted((data / "testA").iterdir())
    fakes = translator.run(torch.stack([load_image_fitted(p, translator.image_size) for p in sources]), "a2b").fake
    for i, fake in enumerate(fakes):
        save_image(fake, tmp_path / f"fake{i}.png")
    saved = torch.stack([load_image(tmp_path / f"fake{i}.png") for i in range(len(fakes))])
    reals = torch.stack([load_image_fitted(p, translator.image_size) for p in sorted((data / "testB").iterdir())])
    mean, std = kid_from_features(extract_features(ext, saved), extract_features(ext, reals), 7, 1000, cfg.seed)
    assert kid["mean"] == pytest.approx(100 * mean, rel=1e-6) and kid["std"] == pytest.approx(100 * std, rel=1e-6)
    # printed next to the number, in the report rows every front end shows
    row = dict((r[0], r[1:]) for r in report_rows(metrics))["KID x100"]
    assert "7 subsets of 4 from 4 translations and 6 real" in row[0] and "all translations" in row[0]
    assert "subsets of 4 = all real images" in row[1]  # b2a: 6 translations against 4 real testA images


def test_kid_sample_says_what_a_clipped_subset_means():
    assert kid_sample(2000, 1500, 100, 1000) == {"subsets": 100, "subset_size": 1000, "n_translations": 2000,
                                                 "n_real": 1500}
    assert "resampling of the real images" in kid_sample(120, 140, 100, 1000)["note"]
    assert "resampling of the translations" in kid_sample(140, 120, 100, 1000)["note"]
    assert "the std is 0" in kid_sample(120, 120, 100, 1000)["note"]
    text = kid_text({"mean": 1.0, "std": 0.5, **kid_sample(120, 140, 100, 1000)})
    assert text == ("1.000 +/- 0.500 (100 subsets of 120 from 120 translations and 140 real; subset size clipped "
                    "from 1000: subsets of 120 = all translations: the std reflects only the resampling of the "
                    "real images)")
    assert kid_text({"mean": 1.0, "std": 0.5}) == "1.000 +/- 0.500"  # a record from before the sample was kept


def test_every_front_end_prints_the_sample_next_to_the_kid():
    """The report rows (CLI summary, Dagster score table) and the Dagster metadata."""
    from orchestration.assets.evaluation import score_metadata

    kid = {"mean": 2.0, "std": 0.25, **kid_sample(120, 140, 100, 1000)}
    direction = {"kid_x100": kid, "source": "testA", "target": "testB"}
    metrics = {"a2b": direction, "b2a": {**direction, "kid_x100": {"mean": 3.0, "std": 0.5,
                                                                   **kid_sample(140, 120, 100, 1000)}},
               "settings": {"features": {"graph": "fid", "weights_sha256": "6726825d0af5f729"}}}
    row = dict((r[0], r[1:]) for r in report_rows(metrics))["KID x100"]
    assert row[0].startswith("2.000 +/- 0.250 (100 subsets of 120 from 120 translations and 140 real")
    assert "= all real images" in row[1]
    meta = score_metadata(metrics)
    assert meta["a2b_kid_x100"] == 2.0 and "all translations" in meta["a2b_kid_x100_sample"]
    assert meta["a2b_kid_x100_sample"].endswith("fid Inception 6726825d0af5f729")


def test_the_regression_check_compares_only_kids_sampled_alike():
    from orchestration.checks.eval_checks import find_regressions, regression_limits

    limits = regression_limits(load_config(ROOT / "params.yaml").eval)
    sample = "100 subsets of 120 from 120 translations and 140 real; fid Inception 6726825d0af5f729"
    prev = {"a2b_kid_x100": 2.0, "a2b_kid_x100_sample": sample}
    worse = {"a2b_kid_x100": 5.0, "a2b_kid_x100_sample": sample}
    assert find_regressions(prev, worse, limits)[0] == ["a2b_kid_x100: 2.000 -> 5.000 (allowed change 0.5)"]
    other_net = {**worse, "a2b_kid_x100_sample": sample.replace("fid", "torchvision")}
    problems, deltas = find_regressions(prev, other_net, limits)
    assert problems == [] and "a2b_kid_x100" not in deltas  # another scale: not compared
