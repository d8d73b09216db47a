import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from anotutor import data as D


@pytest.fixture(scope="module")
def brick():
    return D.textures("brick", image_size=32, n_train=12, n_val=8, n_test=16, n_known=4, seed=1)


def test_textures_splits(brick):
    assert brick.train.images.shape == (12, 1, 32, 32)
    assert set(brick.train.kinds) == {"good"} and int(brick.train.labels.sum()) == 0
    assert len(brick.anomalies) == 4 and int(brick.anomalies.labels.sum()) == 4
    for split in (brick.val, brick.test):
        assert int(split.labels.sum()) == len(split) // 2
        assert set(split.kinds) == {"good", *D.DEFECT_KINDS}
        defective = split.masks.flatten(1).amax(1) > 0
        assert torch.equal(defective.long(), split.labels)  # every defect has a mask, no normal one does
    assert "train" in brick.summary()


def test_textures_deterministic_and_seeded():
    a = D.textures("grass", image_size=32, n_train=3, n_val=2, n_test=4, n_known=0, seed=5)
    b = D.textures("grass", image_size=32, n_train=3, n_val=2, n_test=4, n_known=0, seed=5)
    c = D.textures("grass", image_size=32, n_train=3, n_val=2, n_test=4, n_known=0, seed=6)
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.test.masks, b.test.masks)
    assert not torch.equal(a.train.images, c.train.images)
    assert len(a.anomalies) == 0


def _found_in_train_region(photo, crop):
    """Whether any row of the crop (in any flip) appears verbatim in rows 0-319 of the photo."""
    windows = np.lib.stride_tricks.sliding_window_view(photo[:320], 128, axis=1)  # [320, 385, 128]
    for variant in (crop, crop[:, ::-1]):
        for row in (variant[0], variant[-1]):
            if (np.abs(windows - row).max(axis=2) < 1e-6).any():
                return True
    return False


def test_texture_regions_are_disjoint():
    """Test crops never come from the training region; training crops do (the control)."""
    photo = D.texture_photo("gravel")
    test_crops = D.texture_crops("gravel", 4, 128, region="test", seed=0)[:, 0].numpy()
    train_crops = D.texture_crops("gravel", 2, 128, region="train", seed=0)[:, 0].numpy()
    assert all(_found_in_train_region(photo, c) for c in train_crops)
    assert not any(_found_in_train_region(photo, c) for c in test_crops)


def test_texture_errors():
    with pytest.raises(ValueError, match="texture must be one of"):
        D.textures("marble")
    with pytest.raises(ValueError, match="image_size"):
        D.textures(image_size=8)
    with pytest.raises(ValueError, match="n_train"):
        D.textures(n_train=0)
    with pytest.raises(ValueError, match="anomaly_fraction"):
        D.textures(anomaly_fraction=1.5)


@pytest.mark.parametrize("kind", D.DEFECT_KINDS)
@pytest.mark.parametrize("channels,size", [(1, 32), (3, 48), (1, 100)])
def test_defect_masks_are_exact(kind, channels, size):
    img = torch.rand(channels, size, size) * 0.6 + 0.2
    out, mask = D.add_defect(img, kind, seed=3)
    assert out.shape == img.shape and mask.shape == (size, size)
    inside = mask.bool()
    assert inside.sum() >= 4
    assert torch.equal(out[:, ~inside], img[:, ~inside])  # nothing changes outside the mask
    changed = (out - img).abs().amax(0) > 1e-3
    assert torch.equal(changed, inside)  # and every masked pixel changed
    assert out.min() >= 0 and out.max() <= 1


def test_defect_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        D.add_defect(torch.rand(1, 32, 32), "dent")
    with pytest.raises(ValueError, match="at least 16x16"):
        D.add_defect(torch.rand(1, 8, 8), "hole")
    with pytest.raises(ValueError, match="2 images but 1 kinds"):
        D.add_defects(torch.rand(2, 1, 32, 32), ["hole"])


def test_perlin_noise_is_smooth_and_bounded():
    n = D.perlin_noise(64, 48, (4, 3), seed=0)
    assert n.shape == (64, 48) and np.abs(n).max() <= np.sqrt(2) + 1e-9
    assert np.abs(np.diff(n, axis=0)).max() < 0.3  # smooth: neighbours close
    assert not np.array_equal(n, D.perlin_noise(64, 48, (4, 3), seed=1))
    assert D.perlin_mask(64, 64, seed=2).any()


@pytest.mark.parametrize("make", [D.perlin_anomaly, D.slic_anomaly])
@pytest.mark.parametrize("channels", [1, 3])
def test_pseudo_anomalies(make, channels):
    x = torch.rand(3, channels, 40, 40) * 0.5 + 0.25
    out, masks = make(x, seed=0)
    assert out.shape == x.shape and masks.shape == (3, 40, 40)
    for i in range(3):
        m = masks[i].bool()
        assert m.any() and not m.all()
        assert torch.allclose(out[i][:, ~m], x[i][:, ~m])  # only the masked region is touched
    again, _ = make(x, seed=0)
    assert torch.equal(out, again)
    src = torch.rand(2, 3, 16, 16)
    out2, _ = make(x, seed=1, sources=src)  # other sizes and channel counts as sources
    assert out2.shape == x.shape


def test_superpixels_follow_edges():
    img = torch.zeros(1, 32, 32)
    img[:, :, 16:] = 1.0
    seg = D.superpixels(img, n_segments=8)
    assert seg.shape == (32, 32)
    for label in np.unique(seg):  # no superpixel straddles the step edge
        cols = np.nonzero(seg == label)[1]
        assert cols.max() < 16 or cols.min() >= 16


def test_uniform_noise():
    g = torch.Generator().manual_seed(0)
    z = D.uniform_noise(torch.rand(4, 1, 8, 8), amplitude=0.3, generator=g)
    assert z.shape == (4, 1, 8, 8) and z.abs().max() <= 0.3 and z.min() < 0 < z.max()
    with pytest.raises(ValueError, match="amplitude"):
        D.uniform_noise(torch.rand(1, 1, 8, 8), amplitude=0)


def test_mnist_split_protocol():
    images, labels = D.load_mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == torch.uint8
    ds = D.noisy_anogan_split(images, labels, normal_class=3, seed=0)
    assert len(ds.train) == 350 and set(ds.train.kinds) == {"good"}  # 70 % of 500
    assert len(ds.anomalies) == 9 * 50 and "good" not in ds.anomalies.kinds  # 10 % of each other class
    assert len(ds.train) + len(ds.anomalies) + len(ds.val) + len(ds.test) == 5000
    assert ds.test.counts()["good"] + ds.val.counts()["good"] == 150
    assert ds.train.images.max() <= 1 and ds.test.masks is None
    # no image is in two splits
    seen = torch.cat([s.images.flatten(1) for s in (ds.train, ds.anomalies, ds.val, ds.test)])
    assert torch.unique(seen, dim=0).shape[0] >= 4990  # (MNIST itself holds a few duplicates)
    small = D.noisy_anogan_split(images, labels, 0, image_size=32)
    assert small.train.images.shape[-1] == 32


def test_mnist_errors():
    images, labels = D.load_mnist()
    with pytest.raises(ValueError, match="normal_class"):
        D.noisy_anogan_split(images, labels, normal_class=11)
    with pytest.raises(ValueError, match="train_fraction"):
        D.noisy_anogan_split(images, labels, 0, train_fraction=1.0)
    with pytest.raises(ValueError, match="labels"):
        D.noisy_anogan_split(images, labels[:10], 0)
    with pytest.raises(ValueError, match="source"):
        D.load_mnist("kaggle")


# ---------------------------------------------------------------- MVTec AD layout


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_mvtec(root, size=40, colour=False, n_train=5, kinds=("crack", "hole"), n_per_kind=3, ext=".png"):
    rng = np.random.default_rng(0)
    shape = (size, size, 3) if colour else (size, size)
    for i in range(n_train):
        _save(root / "train" / "good" / f"{i:03d}{ext}", rng.integers(0, 255, shape, dtype=np.uint8))
    for i in range(3):
        _save(root / "test" / "good" / f"{i:03d}{ext}", rng.integers(0, 255, shape, dtype=np.uint8))
    for kind in kinds:
        for i in range(n_per_kind):
            _save(root / "test" / kind / f"{i:03d}{ext}", rng.integers(0, 255, shape, dtype=np.uint8))
            mask = np.zeros((size, size), np.uint8)
            mask[5:15, 5:15] = 255
            _save(root / "ground_truth" / kind / f"{i:03d}_mask.png", mask)
    return root


@pytest.mark.parametrize("colour,size,ext", [(False, 40, ".png"), (True, 50, ".jpg")])
def test_load_folder(tmp_path, colour, size, ext):
    root = make_mvtec(tmp_path / "widget", size=size, colour=colour, ext=ext)
    ds = D.load_folder(root, image_size=32, val_fraction=0.34, n_known=1, seed=0)
    c = 3 if colour else 1
    assert ds.train.images.shape == (5, c, 32, 32)
    assert len(ds.anomalies) == 1 and len(ds.val) + len(ds.test) == 3 + 6 - 1
    assert set(ds.test.kinds) == {"good", "crack", "hole"}
    bad = ds.test.labels.bool()
    assert (ds.test.masks[bad].flatten(1).sum(1) > 0).all() and ds.test.masks[~bad].sum() == 0
    assert ds.name == "widget" and ds.info["channels"] == c
    gray = D.load_folder(root, image_size=16, channels=1)
    assert gray.train.images.shape[1] == 1


def test_load_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_mvtec"):
        D.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no folder train/good"):
        D.load_folder(tmp_path / "empty")
    root = make_mvtec(tmp_path / "nomask")
    (root / "ground_truth" / "hole" / "001_mask.png").unlink()
    with pytest.raises(ValueError, match="no mask for test/hole/001.png"):
        D.load_folder(root)
    root = make_mvtec(tmp_path / "corrupt")
    (root / "train" / "good" / "002.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*002.png"):
        D.load_folder(root, channels=1)
    root = make_mvtec(tmp_path / "onlygood", kinds=())
    with pytest.raises(ValueError, match="no defect folder"):
        D.load_folder(root)
    root = make_mvtec(tmp_path / "ok")
    with pytest.raises(ValueError, match="channels"):
        D.load_folder(root, channels=2)
    with pytest.raises(ValueError, match="n_known"):
        D.load_folder(root, n_known=6)


def _archive(tmp_path, members):
    buf = tmp_path / "mvtec.tar.xz"
    with tarfile.open(buf, "w:xz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf, hashlib.sha256(buf.read_bytes()).hexdigest()


def _png_bytes(arr):
    b = io.BytesIO()
    Image.fromarray(arr).save(b, format="PNG")
    return b.getvalue()


def test_download_mvtec_verifies_and_extracts(tmp_path):
    img = _png_bytes(np.zeros((20, 20), np.uint8))
    members = {"bottle/train/good/000.png": img, "bottle/test/good/000.png": img,
               "bottle/test/broken/000.png": img, "bottle/ground_truth/broken/000_mask.png": img,
               "cable/train/good/000.png": img}
    archive, digest = _archive(tmp_path, members)
    root = tmp_path / "data"
    out = D.download_mvtec("bottle", root, url=archive.as_uri(), sha256=digest)
    assert (out / "train" / "good" / "000.png").is_file()
    assert not (root / "cable").exists()  # only the category asked for
    assert D.download_mvtec("bottle", root, url="file:///nowhere", sha256=digest) == out  # already there
    assert D.load_folder(out, image_size=16).train.images.shape == (1, 1, 16, 16)


def test_download_mvtec_refuses_bad_archives(tmp_path):
    img = _png_bytes(np.zeros((20, 20), np.uint8))
    archive, digest = _archive(tmp_path, {"bottle/train/good/000.png": img})
    with pytest.raises(ValueError, match="SHA-256 .* expected"):
        D.download_mvtec("bottle", tmp_path / "a", archive=archive, sha256="0" * 64)
    assert not (tmp_path / "a" / "bottle").exists()  # nothing extracted from an unverified file
    with pytest.raises(RuntimeError, match="by hand"):
        D.download_mvtec("bottle", tmp_path / "b", url=(tmp_path / "gone.tar.xz").as_uri(), sha256=digest)
    with pytest.raises(ValueError, match="needs its sha256"):
        D.download_mvtec("bottle", tmp_path / "c", url=archive.as_uri())
    with pytest.raises(ValueError, match="category must be one of"):
        D.download_mvtec("teapot", tmp_path / "d")
    evil, evil_digest = _archive(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path,
                                 {"bottle/../../evil.png": img})
    with pytest.raises(ValueError, match="leaves the target folder"):
        D.download_mvtec("bottle", tmp_path / "e", archive=evil, sha256=evil_digest)


def test_augment_keeps_shape_range_and_is_seeded():
    from anotutor.data.augment import augment

    x = torch.rand(4, 3, 24, 24)
    a = augment(x, generator=torch.Generator().manual_seed(0))
    b = augment(x, generator=torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, x)
    same = augment(x, max_degrees=0, flips=False, noise_std=0)
    assert torch.equal(same, x)
