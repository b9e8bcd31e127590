"""Datasets: the embedded UCI digits, the generic loader (and its errors), the synthetic pools."""
import numpy as np
import pytest
import torch

from rlmba.data import (POOL, TEST, VAL, dataset_from_arrays, load_dataset, load_features, load_mfeat,
                        make_synthetic, stratified_split)


def test_mfeat_is_the_uci_multiple_features_set():
    ds = load_mfeat()
    assert ds.name == "mfeat" and len(ds) == 2000 and ds.num_classes == 10
    assert ds.modality_names == ["fourier", "profile", "karhunen_loeve", "pixel", "zernike", "morphological"]
    assert ds.dims == [76, 216, 64, 240, 47, 6]
    assert all(x.dtype == torch.float32 for x in ds.features)
    assert torch.equal(ds.labels.bincount(), torch.full((10,), 200))
    sizes = [len(ds.indices(s)) for s in (POOL, VAL, TEST)]
    assert sizes == [1400, 200, 400]
    for s in (VAL, TEST):  # stratified: equal class counts in the held-out splits
        counts = ds.labels[ds.indices(s)].bincount()
        assert counts.min() == counts.max()
    # spot values from the UCI files (first row of mfeat-mor: 1, 0, 0, 133.15, 1.3117, 1620.2)
    torch.testing.assert_close(ds.features[5][0], torch.tensor([1, 0, 0, 133.15, 1.3117, 1620.2]))
    assert ds.features[3].max() == 6 and ds.features[3].min() == 0  # pixel averages are 0..6


def test_modality_subset_and_standardize():
    ds = load_dataset("mfeat", modalities=["pixel", "fourier"])
    assert ds.modality_names == ["pixel", "fourier"] and ds.dims == [240, 76]
    z = ds.standardized()
    pool = z.features[1][z.indices("pool")].double()
    torch.testing.assert_close(pool.mean(0), torch.zeros(76, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(pool.std(0, unbiased=False), torch.ones(76, dtype=torch.float64), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="modalities: unknown"):
        load_dataset("mfeat", modalities=["audio"])


def _arrays(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return {"x_img": rng.normal(size=(n, 5)), "x_txt": rng.normal(size=(n, 3)).astype(np.float32),
            "y": np.arange(n) % 3, "split": np.array(["train", "val", "test"] * (n // 3))}


def test_npz_and_npy_directory_round_trip(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "f.npz", **arrays)
    d = tmp_path / "feats"
    d.mkdir()
    for k, v in arrays.items():
        np.save(d / f"{k}.npy", v)
    for ds in (load_features(str(tmp_path / "f.npz")), load_features(str(d))):
        assert ds.modality_names == ["img", "txt"] and ds.num_classes == 3 and len(ds) == 30
        torch.testing.assert_close(ds.features[0], torch.from_numpy(arrays["x_img"]).float())
        assert ds.split.tolist() == [POOL, VAL, TEST] * 10
    assert load_features(str(tmp_path / "f.npz")).name == "f"


def test_missing_split_gets_a_stratified_one():
    a = _arrays(n=60)
    del a["split"]
    ds = dataset_from_arrays(a)
    for c in range(3):
        per_class = ds.split[ds.labels == c]
        assert (per_class == VAL).sum() == 2 and (per_class == TEST).sum() == 4
    s1, s2 = stratified_split(np.arange(100) % 4, seed=1), stratified_split(np.arange(100) % 4, seed=1)
    assert np.array_equal(s1, s2)


@pytest.mark.parametrize("mutate, error, match", [
    (lambda a: a.update(x_txt=a["x_txt"][:-1]), ValueError, r"features\['txt'\]: 29 rows, but labels has 30"),
    (lambda a: a["x_img"].__setitem__((4, 2), np.nan), ValueError, r"features\['img'\]: 1 rows hold NaN or Inf \(first at row 4\)"),
    (lambda a: a["x_img"].__setitem__((7, 0), np.inf), ValueError, r"NaN or Inf \(first at row 7\)"),
    (lambda a: a.update(y=a["y"] - 1), ValueError, r"labels: values must lie in \[0, 2\), got min -1"),
    (lambda a: a.update(num_classes=np.array(2)), ValueError, r"labels: values must lie in \[0, 2\), got min 0 and max 2"),
    (lambda a: a.update(y=a["y"] + 0.5), ValueError, "y: expected integer class labels"),
    (lambda a: a.update(y=a["y"][:, None]), ValueError, "y: expected a 1-D label array"),
    (lambda a: a.pop("y"), ValueError, "no labels array 'y'"),
    (lambda a: a.update(split=np.array(["train", "dev", "test"] * 10)), ValueError, r"split: unknown names \['dev'\]"),
    (lambda a: a.update(split=np.array([0, 1, 5] * 10)), ValueError, "split: values must be 0"),
    (lambda a: a.update(split=np.array([0, 2, 2] * 10)), ValueError, "the validation split is empty"),
    (lambda a: a.update(img=a.pop("x_img")), ValueError, r"unexpected arrays \['img'\]"),
    (lambda a: [a.pop("x_img"), a.pop("x_txt")], ValueError, "no feature arrays"),
    (lambda a: a.update(x_img=a["x_img"][:, :, None]), ValueError, r"features\['img'\]: expected a 2-D array"),
    (lambda a: a.update(modalities=np.array(["img", "audio"])), ValueError, "does not match the feature arrays"),
    (lambda a: a.update(x_img=np.array([["a"] * 5] * 30)), TypeError, "expected a numeric array"),
])
def test_loader_rejects_bad_input_naming_the_array(tmp_path, mutate, error, match):
    a = _arrays()
    mutate(a)
    np.savez(tmp_path / "bad.npz", **a)
    with pytest.raises(error, match=match):
        load_features(str(tmp_path / "bad.npz"))


def test_loader_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_features(str(tmp_path / "nope.npz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .npy files"):
        load_features(str(tmp_path / "empty"))


def test_synthetic_pools_are_deterministic_imbalanced_and_unequally_informative():
    a = make_synthetic(n=3000, num_classes=5, dims=(12, 7), separation=(3.0, 0.3), class_imbalance=8.0, seed=5)
    b = make_synthetic(n=3000, num_classes=5, dims=(12, 7), separation=(3.0, 0.3), class_imbalance=8.0, seed=5)
    assert a.dims == [12, 7] and len(a) == 3000
    assert all(torch.equal(x, y) for x, y in zip(a.features, b.features)) and torch.equal(a.labels, b.labels)
    counts = a.labels.bincount().double()
    assert 4 < counts[0] / counts[-1] < 16  # expected ratio 8
    # nearest-class-mean accuracy: the strong modality separates the classes, the weak one barely
    accs = []
    for x in a.features:
        means = torch.stack([x[a.labels == c].mean(0) for c in range(5)])
        accs.append((torch.cdist(x, means).argmin(1) == a.labels).double().mean().item())
    assert accs[0] > 0.9 and accs[1] < 0.6
    with pytest.raises(ValueError, match="one separation per modality"):
        make_synthetic(dims=(3, 4), separation=(1.0,))
