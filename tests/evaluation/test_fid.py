"""FID: the same numbers as pytorch-fid itself (random-weight stand-in), self-FID ~ 0, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation import fid
from tests.support.runs import write_standin_weights

# Tolerances: float64 Frechet distances and fp32 features, rel=1e-3/1e-5 against pytorch-fid;
# checked with the CPU capped at AVX2 and at the default path as well.
pytestmark = pytest.mark.precision


@pytest.fixture(scope="session")
def standin_weights(tmp_path_factory):
    return write_standin_weights(tmp_path_factory.mktemp("inception") / fid.WEIGHTS_FILE_NAME)


def write_images(folder, count, seed, *, spread):
    """`count` noisy flat-colour PNGs; `spread` sets how far apart the base colours are."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        base = 128 + rng.integers(-spread, spread + 1, size=3)
        pixels = np.clip(base + rng.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid_images")
    return (
        write_images(root / "a", 6, seed=1, spread=120),
        write_images(root / "b", 6, seed=2, spread=20),
    )


@pytest.fixture(scope="module")
def inception(standin_weights):
    return fid.load_inception(standin_weights)


@pytest.fixture(scope="module")
def features(folders, inception):
    """Each folder's features, computed once (Inception is slow on a shared CPU)."""
    return tuple(fid.folder_features(folder, inception, batch_size=4) for folder in folders)


def pytorch_fid_value(paths, weights, monkeypatch):
    """pytorch-fid's own calculate_fid_given_paths, reading the stand-in instead of downloading."""
    import pytorch_fid.fid_score
    import pytorch_fid.inception

    monkeypatch.setattr(
        pytorch_fid.inception,
        "load_state_dict_from_url",
        lambda *args, **kwargs: torch.load(weights, weights_only=True),
    )
    return pytorch_fid.fid_score.calculate_fid_given_paths(
        [str(path) for path in paths], batch_size=50, device="cpu", dims=2048, num_workers=0
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::scipy.linalg.LinAlgWarning")
def test_cli_fid_matches_pytorch_fid(folders, standin_weights, monkeypatch, capsys):
    # sqrtm of a 2048x2048 matrix takes most of a minute on a busy CPU, so each FID here counts.
    assert (
        main(
            [
                "fid",
                str(folders[0]),
                str(folders[1]),
                "--batch-size",
                "4",
                "--inception-weights",
                str(standin_weights),
            ]
        )
        == 0
    )
    ours = float(capsys.readouterr().out.split("FID:")[1])
    theirs = pytorch_fid_value(folders, standin_weights, monkeypatch)
    assert theirs > 1.0  # the two sets differ, so a broken comparison cannot pass on zeros
    assert ours == pytest.approx(theirs, rel=1e-3)


def test_fid_of_a_set_with_itself_is_about_zero(features):
    between = fid.fid_from_features(*features)
    itself = fid.fid_from_features(features[0], features[0])
    assert abs(itself) < 1e-4 * between


def test_in_memory_images_give_the_folder_features(folders, features, inception):
    """Evaluation feeds [-1, 1] tensors; rounding to 8 bits makes them equal the PNG files."""
    files = fid.list_images(folders[0])
    pixels = np.stack([np.asarray(Image.open(path)) for path in files])  # (N, H, W, 3) uint8
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, H, W)
    images = images + 0.001  # off the 8-bit grid; rounding must bring it back
    in_memory = fid.inception_features(inception, fid.to_inception_input(images[:4]))
    np.testing.assert_allclose(in_memory, features[0][:4], rtol=1e-5, atol=1e-7)


def test_npz_statistics_are_read_as_pytorch_fid_writes_them(features, inception, tmp_path):
    mu, sigma = fid.feature_statistics(features[1])
    np.savez_compressed(tmp_path / "b.npz", mu=mu, sigma=sigma)  # as `--save-stats` writes
    loaded_mu, loaded_sigma = fid.path_statistics(tmp_path / "b.npz", inception)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)


def test_two_statistics_files_need_no_inception(tmp_path, monkeypatch, capsys):
    """mu and sigma alone give the distance: building Inception (or needing its weights) fails
    the test. Diagonal covariances have the closed form
    |mu1 - mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2))."""

    def no_inception(*args, **kwargs):
        raise AssertionError("Inception was built for two statistics files")

    monkeypatch.setattr(fid, "load_inception", no_inception)
    monkeypatch.setattr(fid, "build_fid_inception", no_inception)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "no-hub"))  # no weights
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    s1, s2 = rng.uniform(0.5, 2.0, 16), rng.uniform(0.5, 2.0, 16)
    np.savez_compressed(tmp_path / "a.npz", mu=mu1, sigma=np.diag(s1))
    np.savez_compressed(tmp_path / "b.npz", mu=mu2, sigma=np.diag(s2))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert expected > 1.0

    value = fid.fid_between_folders(tmp_path / "a.npz", tmp_path / "b.npz")
    assert value == pytest.approx(expected, rel=1e-9)
    assert main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 0
    printed = float(capsys.readouterr().out.split("FID:")[1])
    assert printed == pytest.approx(expected, rel=1e-6)


def test_missing_weights_names_the_file_and_the_place(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / fid.WEIGHTS_FILE_NAME
    with pytest.raises(SketchcolorError, match="pt_inception-2015-12-05-6726825d.pth") as error:
        fid.fid_between_folders(*folders)
    assert str(expected) in str(error.value)
    assert fid.inception_weights_message() == str(error.value)

    assert main(["fid", str(folders[0]), str(folders[1])]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and str(expected) in message


def test_bad_inputs_give_one_line_errors(folders, standin_weights, tmp_path):
    with pytest.raises(SketchcolorError, match="Inception weights not found"):
        fid.load_inception(tmp_path / "nowhere.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SketchcolorError, match="not FID Inception weights"):
        fid.load_inception(tmp_path / "junk.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SketchcolorError, match="no images"):
        fid.list_images(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(SketchcolorError, match="x.png: unreadable image"):
        fid.read_image01(broken / "x.png")
    with pytest.raises(SketchcolorError, match="at least 2 images"):
        fid.feature_statistics(np.zeros((1, 2048)))
    with pytest.raises(SketchcolorError, match="batch size must be at least 1, got 0"):
        fid.fid_between_folders(*folders, weights_path=standin_weights, batch_size=0)


def test_reference_cache_key_follows_the_manifest(standin_weights, tmp_path):
    (tmp_path / "manifest.json").write_text('{"splits": {"val": {"count": 4}}}')
    first = fid.reference_cache_path(tmp_path / "cache", tmp_path, "val", 256, standin_weights)
    again = fid.reference_cache_path(tmp_path / "cache", tmp_path, "val", 256, standin_weights)
    other_size = fid.reference_cache_path(tmp_path / "cache", tmp_path, "val", 512, standin_weights)
    first_five = fid.reference_cache_path(
        tmp_path / "cache", tmp_path, "val", 256, standin_weights, max_images=5
    )
    (tmp_path / "manifest.json").write_text('{"splits": {"val": {"count": 5}}}')
    new_shards = fid.reference_cache_path(tmp_path / "cache", tmp_path, "val", 256, standin_weights)
    other_decoder = fid.reference_cache_path(tmp_path / "cache", tmp_path, "val", 256,
                                             standin_weights, context={"decoder": "torch"})  # fmt: skip
    assert first == again
    assert len({first, other_size, first_five, new_shards, other_decoder}) == 5

    mu, sigma = np.arange(3.0), np.eye(3)
    fid.save_statistics(first, mu, sigma)
    loaded_mu, loaded_sigma = fid.load_statistics_file(first)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # no temp file left


def test_statistics_context_names_decoder_and_device():
    assert fid.statistics_context("dali", "cpu") == {"decoder": "dali", "device": "cpu"}
    assert fid.statistics_context("torch", torch.device("cpu"))["decoder"] == "torch"
