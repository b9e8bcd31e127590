"""Malformed and hostile feature files: each one a clear error naming the array, before anything
large is allocated, with no file left open, and through the CLI one line with exit code 2."""
import io
import os
import tracemalloc
import zipfile

import numpy as np
import numpy.lib.format as npy
import pytest

from rlmba import cli
from rlmba.data import dataset_from_arrays, load_features
from rlmba.data import loader


def _arrays(n=60):
    rng = np.random.default_rng(0)
    return {"x_a": rng.normal(size=(n, 4)).astype(np.float32), "x_b": rng.normal(size=(n, 3)),
            "y": np.arange(n) % 3, "split": np.array([0, 1, 2] * (n // 3), dtype=np.int64)}


def _member(shape, dtype, payload: bytes) -> bytes:
    """A .npy file whose header declares ``shape`` and ``dtype`` but holds ``payload``."""
    f = io.BytesIO()
    npy.write_array_header_1_0(f, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                                   "shape": shape})
    return f.getvalue() + payload


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def _npz(path, arrays):
    np.savez(path, **arrays)
    return str(path)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _mutated(**change):
    a = _arrays()
    a.update(change)
    return a


BAD_ARRAYS = [
    # split codes are checked before the int8 cast, which would put 256 -> 0 and 257, 2**32+1 -> 1
    (_mutated(split=np.array([0, 1, 2] * 19 + [256, 257, 2**32 + 1], dtype=np.int64)), ValueError,
     r"split: values must be 0 \(pool/train\), 1 \(val\) or 2 \(test\); got 256 at row 57 \(3 rows\)"),
    (_mutated(split=np.array([0, 1, 2] * 20, dtype=np.float64)), TypeError, r"split: expected integer codes"),
    (_mutated(x_a=_arrays()["x_a"] * (1 + 1j)), TypeError, r"features\['a'\]: expected a numeric array \(int or "
                                                            r"float\), got dtype complex"),
    (_mutated(x_b=np.arange(60 * 3).reshape(60, 3).astype("m8[s]")), TypeError,
     r"features\['b'\]: expected a numeric array.*timedelta64"),
    (_mutated(x_b=np.zeros((60, 0))), ValueError, r"features\['b'\]: no feature columns \(D = 0\)"),
    (_mutated(num_classes=np.array(10**12)), ValueError, r"num_classes: 1000000000000 classes for 60 samples"),
    (_mutated(num_classes=np.array(3.9)), ValueError, r"num_classes: expected an integer, got 3.9"),
    (_mutated(num_classes=np.array([3, 4])), ValueError, r"num_classes: expected one integer"),
    (_mutated(y=np.array([10**9] + [0, 1, 2] * 19 + [0, 1])), ValueError,
     r"y: the largest label 1000000000 implies 1000000001 classes for 60 samples"),
    (_mutated(y=np.arange(60) % 3 + 0.5), ValueError, r"y: expected integer class labels"),
    (_mutated(y=np.full(60, 2.0**70)), ValueError, r"y: labels out of the int64 range"),
    (_mutated(x_a=np.ones((59, 4))), ValueError, r"features\['a'\]: 59 rows, but labels has 60"),
    (_mutated(split=np.zeros((60, 1), dtype=np.int64)), ValueError, r"split: expected a 1-D array"),
]


@pytest.mark.parametrize("arrays, error, match", BAD_ARRAYS)
def test_bad_arrays_are_refused_in_memory_and_on_disk(tmp_path, arrays, error, match):
    with pytest.raises(error, match=match):
        dataset_from_arrays(arrays)
    path = _npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(error, match=match):
        load_features(path)
    d = tmp_path / "dir"
    d.mkdir()
    for k, v in arrays.items():
        np.save(d / f"{k}.npy", v)
    with pytest.raises(error, match=match):
        load_features(str(d))


def test_pickles_and_object_arrays_are_refused(tmp_path):
    obj = np.empty(60, dtype=object)
    obj[:] = [{"a": i} for i in range(60)]
    path = _npz(tmp_path / "obj.npz", _mutated(y=obj))
    with pytest.raises(TypeError, match=r"y: object arrays \(pickles\) are refused"):
        load_features(path)
    with pytest.raises(TypeError, match=r"object arrays \(pickles\) are refused"):
        dataset_from_arrays(_mutated(y=obj))
    import pickle
    members = {f"{k}.npy": _member(v.shape, v.dtype, v.tobytes()) for k, v in _arrays().items()}
    members["x_a.npy"] = pickle.dumps(np.ones((60, 4)))  # a pickle where an array belongs
    with pytest.raises(ValueError, match=r"features\['a'\]: not a readable .npy array"):
        load_features(_zip(tmp_path / "pickle.npz", members))
    members["x_a.npy"], members["evil.pkl"] = _member((60, 4), "<f4", bytes(60 * 16)), b"\x80\x04."
    with pytest.raises(ValueError, match=r"member 'evil.pkl' is not a .npy array"):
        load_features(_zip(tmp_path / "extra.npz", members))


def test_huge_declared_shape_is_checked_before_allocation(tmp_path, monkeypatch):
    members = {f"{k}.npy": _member(v.shape, v.dtype, v.tobytes()) for k, v in _arrays().items()}
    members["x_a.npy"] = _member((10**12, 4), "<f4", bytes(1024))
    with pytest.raises(ValueError, match=r"features\['a'\]: declares shape \(1000000000000, 4\) float32 "
                                         r"\(14\.6 TiB\), but the file holds 1\.1 KiB for it"):
        load_features(_zip(tmp_path / "huge.npz", members))
    # consistent headers that this machine could not hold
    monkeypatch.setattr(loader, "_physical_memory", lambda: 1000)
    with pytest.raises(MemoryError, match=r"ok.npz: its arrays need .* more than this machine's"):
        load_features(_npz(tmp_path / "ok.npz", _arrays()))


def test_truncated_or_corrupt_archives_leave_no_open_file(tmp_path):
    _npz(tmp_path / "good.npz", _arrays())
    blob = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[:len(blob) // 2])
    flipped = bytearray(blob)
    flipped[300] ^= 0xFF  # inside x_a's data: the member's CRC-32 no longer matches
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    (tmp_path / "empty.npz").write_bytes(b"")
    fds = _open_fds()
    for name, match in (("cut", r"cut.npz: not a readable .npz archive"), ("empty", "not a readable .npz archive"),
                        ("flip", r"features\['a'\]: .*Bad CRC-32")):
        with pytest.raises(ValueError, match=match):
            load_features(str(tmp_path / f"{name}.npz"))
    d = tmp_path / "dir"
    d.mkdir()
    for k, v in _arrays().items():
        np.save(d / f"{k}.npy", v)
    with open(d / "x_b.npy", "r+b") as f:
        f.truncate(200)
    with pytest.raises(ValueError, match=r"features\['b'\]: declares shape \(60, 3\) float64 .* truncated"):
        load_features(str(d))
    assert _open_fds() == fds


def _bomb(path, rows: int) -> str:
    """An archive whose x_a [rows, 1] float32 is all zeros (deflated ~1000x), with 60 labels."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x_a.npy", "w", force_zip64=True) as f:
            f.write(_member((rows, 1), "<f4", b""))
            chunk = bytes(1 << 24)
            for _ in range(rows * 4 // len(chunk)):
                f.write(chunk)
        for k in ("y", "split"):
            zf.writestr(f"{k}.npy", _member((60,), "<i8", _arrays()[k].astype("<i8").tobytes()))
    return str(path)


@pytest.mark.parametrize("rows", [1 << 26, pytest.param(1 << 28, marks=pytest.mark.slow)])
def test_compression_bomb_fails_on_its_header(tmp_path, rows):
    """An archive of ~1/1000 the size it inflates to (256 MiB; 1 GiB in the slow suite), with
    the wrong row count: the header check fails before any of it is allocated."""
    path = _bomb(tmp_path / "bomb.npz", rows)
    assert os.path.getsize(path) < rows * 4 // 500
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"features\['a'\]: {rows} rows, but labels has 60"):
            load_features(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak traced allocation {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("case", range(len(BAD_ARRAYS)))
def test_cli_bad_data_is_one_line_exit_2(tmp_path, capsys, case):
    path = _npz(tmp_path / "bad.npz", BAD_ARRAYS[case][0])
    rc = cli.main(["run", "--dataset", path, "--strategy", "random", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("rlmba: error: ") and not (tmp_path / "out").exists()
