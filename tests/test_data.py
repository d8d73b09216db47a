import hashlib
import io
import tarfile
import shutil

import numpy as np
import pytest
import torch
from images import fake_elpv
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


def test_texture_regions_tile_the_photograph_and_are_read_only():
    covered = np.zeros((512, 512), int)
    for r0, r1, c0, c1 in D.REGIONS.values():
        covered[r0:r1, c0:c1] += 1
    assert (covered == 1).all()  # every pixel in exactly one split's region
    assert set(D.REGIONS) == {"train", "val", "test"}
    with pytest.raises(TypeError):
        D.REGIONS["test"] = (0, 320, 0, 512)


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


def test_mnist_contamination_mixes_unlabelled_anomalies():
    images, labels = D.load_mnist()
    clean = D.noisy_anogan_split(images, labels, normal_class=3, seed=0)
    ds = D.noisy_anogan_split(images, labels, normal_class=3, seed=0, contamination=0.1)
    bad = ds.train.labels == 1
    assert abs(bad.float().mean().item() - 0.1) < 0.01  # epsilon of the training set
    assert int(bad.sum()) == 39 and int((~bad).sum()) == 350  # round(0.1 / 0.9 * 350)
    kinds = [k for k, b in zip(ds.train.kinds, bad.tolist()) if b]
    assert "good" not in kinds and len(set(kinds)) == 9  # spread over the other classes
    # the same normal digits and the same known anomalies as without contamination
    assert torch.equal(ds.train.images[~bad], clean.train.images)
    assert torch.equal(ds.anomalies.images, clean.anomalies.images)
    # contaminating digits are neither known anomalies nor held out
    rows = lambda s: {tuple(r.tolist()) for r in (s.images.flatten(1) * 255).round().byte()}
    mixed = {tuple(r.tolist()) for r in (ds.train.images[bad].flatten(1) * 255).round().byte()}
    assert not mixed & (rows(ds.anomalies) | rows(ds.val) | rows(ds.test))
    assert len(ds.train) + len(ds.anomalies) + len(ds.val) + len(ds.test) == 5000
    with pytest.raises(ValueError, match="contamination"):
        D.noisy_anogan_split(images, labels, 0, contamination=1.0)
    with pytest.raises(ValueError, match="too few"):
        D.noisy_anogan_split(images, labels, 0, contamination=0.95)


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


def _split(images, kinds, masks=None):
    labels = torch.tensor([int(k != "good") for k in kinds])
    return D.Split(images, labels, list(kinds), masks)


def make_mvtec(root, size=40, colour=False, n_train=5, kinds=("crack", "hole"), n_per_kind=3, ext=".png"):
    rng = np.random.default_rng(0)
    c = 3 if colour else 1

    def noise(n):  # random 8-bit images
        return torch.from_numpy(rng.integers(0, 256, (n, c, size, size)) / 255.0).float()

    test_kinds = ["good"] * 3 + [k for k in kinds for _ in range(n_per_kind)]
    masks = torch.zeros(len(test_kinds), size, size)
    masks[3:, 5:15, 5:15] = 1
    train, test = _split(noise(n_train), ["good"] * n_train), _split(noise(len(test_kinds)), test_kinds, masks)
    return D.save_folder(root, train, test, image_format=ext.lstrip("."))


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


def _random_splits(channels, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    kinds = ["good", "scratch", "good", "hole", "scratch", "good"]
    masks = (torch.rand(len(kinds), size, size, generator=g) > 0.7).float()
    masks[[k == "good" for k in kinds]] = 0
    train = _split(torch.rand(4, channels, size, size, generator=g), ["good"] * 4)
    test = _split(torch.rand(len(kinds), channels, size, size, generator=g), kinds, masks)
    return train, test


@pytest.mark.parametrize("channels", [1, 3])
def test_save_folder_then_load_folder_round_trips(tmp_path, channels):
    train, test = _random_splits(channels)
    root = D.save_folder(tmp_path / "widget", train, test)
    assert sorted(p.name for p in (root / "test" / "scratch").iterdir()) == ["000.png", "001.png"]
    assert sorted(p.name for p in (root / "ground_truth" / "scratch").iterdir()) == ["000_mask.png", "001_mask.png"]
    assert not (root / "ground_truth" / "good").exists()
    back = D.load_folder(root, image_size=24, val_fraction=0.0, seed=0)  # no resizing, no validation split
    assert back.info["channels"] == channels  # colour found from the files
    step = 0.5 / 255 + 1e-6  # the 8-bit quantisation
    assert (back.train.images - train.images).abs().max() <= step
    order = sorted(range(len(test)), key=lambda i: (test.kinds[i], i))  # the loader reads kind by kind
    assert back.test.kinds == [test.kinds[i] for i in order]
    assert torch.equal(back.test.labels, test.labels[order])
    assert (back.test.images - test.images[order]).abs().max() <= step
    assert torch.equal(back.test.masks, test.masks[order])


def test_save_folder_jpg_keeps_masks_exact(tmp_path):
    train, test = _random_splits(3, size=32)
    smooth = torch.nn.functional.avg_pool2d(test.images, 9, stride=1, padding=4, count_include_pad=False)
    test = _split(smooth, test.kinds, test.masks)
    root = D.save_folder(tmp_path / "jpg", train, test, image_format="JPG", quality=95)
    assert {p.suffix for p in root.glob("t*/*/*")} == {".jpg"}
    assert {p.suffix for p in root.glob("ground_truth/*/*")} == {".png"}
    back = D.load_folder(root, image_size=32, val_fraction=0.0)
    order = sorted(range(len(test)), key=lambda i: (test.kinds[i], i))
    assert torch.equal(back.test.masks, test.masks[order])
    assert (back.test.images - test.images[order]).abs().mean() < 0.02  # lossy, but close


def test_save_folder_refuses_a_non_empty_folder_unless_told(tmp_path):
    train, test = _random_splits(1)
    root = D.save_folder(tmp_path / "w", train, test)
    (root / "README.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        D.save_folder(root, train, test)
    D.save_folder(root, train.subset([0, 1]), test.of_kind("hole"), overwrite=True)
    assert len(list((root / "train" / "good").iterdir())) == 2
    assert sorted(p.name for p in (root / "test").iterdir()) == ["hole"]  # nothing left of the first write
    assert sorted(p.name for p in (root / "ground_truth").iterdir()) == ["hole"]
    assert (root / "README.txt").read_text() == "mine"  # and nothing else touched
    (tmp_path / "empty").mkdir()
    D.save_folder(tmp_path / "empty", train, test)  # an empty folder is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        D.save_folder(tmp_path / "file", train, test)


def test_save_folder_errors_name_the_argument(tmp_path):
    train, test = _random_splits(1)
    bad_train = _split(test.images, test.kinds, test.masks)
    mislabelled = D.Split(test.images, torch.zeros(len(test)), test.kinds, None)
    slashed = _split(test.images[:2], ["good", "a/b"], test.masks[:2] * 0)
    cases = [
        (dict(train=test.images), "train must be an anotutor.data.Split, got Tensor"),
        (dict(train=train.subset([])), "train is empty"),
        (dict(train=bad_train), "train must hold normal images only .* 3 anomalous"),
        (dict(test=mislabelled), "test image 1 has label 0 and kind 'scratch'"),
        (dict(test=slashed), r"test.kinds\[1\] must be usable as a folder name"),
        (dict(image_format="bmp"), "image_format must be one of"),
        (dict(quality=0), "quality"),
        (dict(overwrite="yes"), "overwrite must be True or False"),
    ]
    for i, (change, match) in enumerate(cases):
        kwargs = dict(train=train, test=test) | change
        with pytest.raises(ValueError, match=match):
            D.save_folder(tmp_path / f"case{i}", **kwargs)
        assert not (tmp_path / f"case{i}").exists()  # nothing written before the inputs are checked


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


def test_ir_mnist_puzzles_and_masks():
    images, labels = D.load_mnist()
    ds = D.ir_mnist(images, labels, grid=3, cell=12, n_train=20, n_known=4, n_val=10, n_test=10, seed=0)
    assert ds.train.images.shape == (20, 1, 36, 36) and ds.train.masks.sum() == 0
    assert ds.anomalies.labels.tolist() == [1] * 4 and (ds.anomalies.masks.flatten(1).sum(1) > 0).all()
    for split in (ds.val, ds.test):
        assert split.labels.sum() == 5
        m = split.masks[split.labels == 1]
        # masks are whole cells: each masked area is a multiple of a cell's 144 pixels
        areas = m.flatten(1).sum(1)
        assert ((areas % 144) == 0).all() and (areas >= 144).all() and (areas <= 144).all()  # 9 // 8 = 1
    # cells of a 3 differ from every normal cell: the masked cell is one of the held-out 3s
    threes = torch.nn.functional.interpolate(images[labels == 3].float()[:, None] / 255, size=(12, 12),
                                             mode="area")[:, 0]
    i = int((ds.test.labels == 1).nonzero()[0])
    r, c = [int(v[0]) for v in ds.test.masks[i].nonzero().T]
    cell = ds.test.images[i, 0, r:r + 12, c:c + 12]
    assert (threes - cell).abs().flatten(1).amax(1).min() < 1e-6
    with pytest.raises(ValueError, match="anomaly_digit"):
        D.ir_mnist(images, labels, anomaly_digit=11)
    with pytest.raises(ValueError, match="grid"):
        D.ir_mnist(images, labels, grid=1)


def test_split_per_kind_draws_a_stated_composition():
    images, labels = D.load_mnist()
    test = D.noisy_anogan_split(images, labels, normal_class=0, seed=0).test
    small = test.per_kind({"good": 10, "digit_3": 4}, seed=1)
    assert small.counts() == {"digit_3": 4, "good": 10}
    assert test.per_kind(3).counts() == {k: 3 for k in test.counts()}
    assert torch.equal(test.per_kind(3, seed=2).images, test.per_kind(3, seed=2).images)
    assert not torch.equal(test.per_kind(3, seed=2).images, test.per_kind(3, seed=3).images)
    with pytest.raises(ValueError, match="per_kind"):
        test.per_kind({"good": -1})


def test_first_of_each_kind_puts_good_first_and_picks_the_first_image():
    import torch as T

    from anotutor.data.splits import Split

    split = Split(T.rand(5, 1, 8, 8), [1, 0, 1, 0, 1], ["stain", "good", "crack", "good", "stain"])
    assert split.first_of_each_kind() == (["good", "crack", "stain"], [1, 2, 0])


def test_load_folder_names_bad_files_and_masks(tmp_path):
    from PIL import Image

    root = make_mvtec(tmp_path / "notes")
    (root / "test" / "crack" / "notes.txt").write_text("taken on Monday")
    (root / "train" / "good" / ".DS_Store").write_bytes(b"\0")   # hidden files are skipped
    with pytest.raises(ValueError, match="not images .*notes.txt"):
        D.load_folder(root)
    root = make_mvtec(tmp_path / "bigmask")
    Image.new("L", (20, 20)).save(root / "ground_truth" / "hole" / "001_mask.png")
    with pytest.raises(ValueError, match="001_mask.png is 20x20 pixels but its image .*40x40"):
        D.load_folder(root)


def test_a_folder_without_masks_loads_for_image_metrics_only(tmp_path):
    """A kind without ground_truth/: masks None on every split, a warning, the images all there."""
    full = D.load_folder(make_mvtec(tmp_path / "full"), image_size=32, seed=0)
    root = make_mvtec(tmp_path / "nogt")
    shutil.rmtree(root / "ground_truth" / "crack")
    with pytest.warns(UserWarning, match="crack have no ground_truth/<kind> folder.*image metrics only"):
        ds = D.load_folder(root, image_size=32, seed=0)
    assert ds.val.masks is None and ds.test.masks is None and ds.info["masks"] is False
    assert full.info["masks"] is True
    for name in ("train", "val", "test"):
        a, b = getattr(ds, name), getattr(full, name)
        assert a.kinds == b.kinds and torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # and the writer round-trips a split without masks: no ground_truth/ written, the same images read back
    back = D.save_folder(tmp_path / "written", ds.train, ds.test)
    assert not (back / "ground_truth").exists()
    with pytest.warns(UserWarning, match="image metrics only"):
        again = D.load_folder(back, image_size=32, val_fraction=0.5, seed=0)
    assert len(again.val) + len(again.test) == len(ds.test) and again.test.masks is None


def test_load_folder_records_which_file_went_where(tmp_path):
    root = make_mvtec(tmp_path / "files")
    ds = D.load_folder(root, image_size=32, val_fraction=0.34, n_known=1, seed=0)
    files = ds.info["files"]
    assert [len(files[k]) for k in ("train", "anomalies", "val", "test")] == \
        [len(ds.train), len(ds.anomalies), len(ds.val), len(ds.test)]
    assert all(f.split("/")[1] == k for f, k in zip(files["test"], ds.test.kinds))
    every = files["anomalies"] + files["val"] + files["test"]
    assert len(set(every)) == len(every) == 9   # no test image is used twice


def test_digit_parts_aligned_and_rotated():
    from anotutor.data import digit_parts
    from anotutor.data.parts import rotate

    a = digit_parts(3, False, image_size=32, n_train=20, n_val=6, n_test=8, seed=1)
    r = digit_parts(3, True, image_size=32, n_train=20, n_val=6, n_test=8, seed=1)
    assert a.train.images.shape == (20, 1, 32, 32) and len(a.val) == 6 and len(a.test) == 8
    assert a.test.labels.tolist() == [0] * 4 + [1] * 4 and a.test.masks[:4].sum() == 0
    assert a.test.masks[4:].flatten(1).amax(1).min() == 1          # every defect has its mask
    assert not torch.equal(a.train.images, r.train.images)         # turned ...
    # ... by a rotation: the ink is kept, up to interpolation at the rim
    assert abs(float(a.train.images.sum() - r.train.images.sum())) < 0.1 * float(a.train.images.sum())
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 6] = 1.0
    assert float(rotate(x, [90.0])[0, 0, 2, 4]) > 0.9                 # (row 4, col 6) -> (row 2, col 4)
    with pytest.raises(ValueError, match="fewer than"):
        digit_parts(0, n_train=500)


def test_elpv_split_is_seeded_stratified_and_disjoint(tmp_path):
    root = fake_elpv(tmp_path / "elpv")
    ds = D.elpv("mono", image_size=16, seed=3, root=root)
    assert len(ds.train) == 6 and ds.train.labels.sum() == 0           # 60 % of 10 defect-free cells
    assert ds.val.labels.tolist() == [0, 0, 1, 1, 1] and ds.test.labels.tolist() == [0, 0, 1, 1, 1]
    assert ds.test.masks is None and ds.train.images.shape[-2:] == (16, 16)
    cells = ds.info["cells"]
    used = cells["train"] + cells["val"] + cells["test"] + cells["uncertain"]
    assert len(used) == len(set(used)) == 19                           # every mono cell once
    assert ds.info["uncertain"]["images"].shape[0] == 3
    assert torch.allclose(ds.info["uncertain"]["probability"], torch.full((3,), 1 / 3))
    again, other = D.elpv("mono", 16, seed=3, root=root), D.elpv("mono", 16, seed=4, root=root)
    assert again.info["cells"] == cells and other.info["cells"] != cells
    poly = D.elpv("poly", 16, root=root)
    assert len(poly.train) == 2 and poly.test.labels.tolist() == [0, 1]
    assert len(ds.anomalies) == 0
    known = D.elpv("mono", 16, seed=3, root=root, n_known=2)
    k = known.info["cells"]
    assert known.anomalies.labels.tolist() == [1, 1] and len(k["anomalies"]) == 2
    assert not set(k["anomalies"]) & set(k["val"] + k["test"] + k["train"] + k["uncertain"])
    assert known.val.labels.tolist() == [0, 0, 1, 1] and known.test.labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="n_known=5"):
        D.elpv("mono", 16, root=root, n_known=5)


def test_elpv_says_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an ELPV data folder"):
        D.elpv(root=tmp_path)
    root = fake_elpv(tmp_path / "e")
    with pytest.raises(ValueError, match="kind must be one of"):
        D.elpv("amorphous", root=root)
    (root / "labels.csv").write_text("images/cell0001.png 0.5 mono\n")
    with pytest.raises(ValueError, match="line 1: probability must be one of"):
        D.elpv(root=root)
    (root / "labels.csv").write_text("images/cell0001.png 0.0 mono\n")
    with pytest.raises(ValueError, match="need at least 4 and 2"):
        D.elpv(root=root)


def test_elpv_from_the_installed_package():
    pytest.importorskip("elpv_dataset", reason="elpv-dataset is not installed (pip install elpv-dataset)")
    ds = D.elpv("mono", image_size=32, seed=0)
    assert len(ds.train) == round(0.6 * 588) and ds.val.labels.sum() + ds.test.labels.sum() == 313
    assert len(ds.info["uncertain"]["images"]) == 117 + 56


def test_write_elpv_round_trips_through_the_folder_loader(tmp_path):
    from anotutor.data.elpv import write_elpv

    root = fake_elpv(tmp_path / "elpv")
    ds = D.elpv("mono", image_size=30, seed=2, root=root)
    out = write_elpv(tmp_path / "mvtec", "mono", seed=2, image_size=30, root=root)
    assert sorted(p.name for p in out.iterdir()) == ["test", "train"]          # no ground_truth/
    assert len(list((out / "test" / "defective").iterdir())) == 6               # every probability-1 cell
    with pytest.warns(UserWarning, match="image metrics only"):
        back = D.load_folder(out, image_size=30, val_fraction=0.5, seed=0)
    assert torch.equal(back.train.images, ds.train.images)                      # 8-bit cells: exact
    written = torch.cat([ds.val.images, ds.test.images])
    got = torch.cat([back.val.images, back.test.images])
    assert sorted(got.flatten(1).sum(1).tolist()) == pytest.approx(sorted(written.flatten(1).sum(1).tolist()))
    with pytest.raises(FileExistsError, match="not empty"):
        write_elpv(out, "mono", root=root)
