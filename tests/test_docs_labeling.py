"""The README's "Label your own pool" section and docs/labeling.md, run as written: the five
session commands (with a scripted annotator between query and label), the library calls."""
import csv
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from rlmba import cli
from rlmba.data import load_mfeat

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")


def _blocks(path: Path, lang: str, after: str = "") -> list[str]:
    text = path.read_text()
    text = text[text.index(after):] if after else text
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.fixture
def pool_dir(tmp_path, monkeypatch):
    """my_pool.npz: the embedded digits' features with no labels (num_classes given)."""
    ds = load_mfeat()
    np.savez(tmp_path / "my_pool.npz", **{f"x_{m}": x.numpy() for m, x in zip(ds.modality_names, ds.features)},
             y=np.full(len(ds), -1), num_classes=np.array(10))
    monkeypatch.chdir(tmp_path)
    return tmp_path, ds.labels.numpy()


def test_readme_session_round_trip(pool_dir, capsys):
    tmp, y = pool_dir
    commands = [line.split("#")[0].strip() for line in _blocks(ROOT / "README.md", "bash", "## Label your own pool")[0]
                .splitlines() if line.startswith("rlmba ")]
    assert len(commands) == 5 and all(c.startswith("rlmba session ") for c in commands)
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[1] == "label":  # the annotators: the true label of every asked row
            asked = list(csv.DictReader((tmp / "labels/queries/round-000.csv").read_text().splitlines()))
            (tmp / argv[3]).write_text("id,label\n" + "".join(f"{r['id']},{y[int(r['id'])]}\n" for r in asked))
        assert cli.main(argv) == 0, command
    out = capsys.readouterr().out
    assert "round 0 (cold-start:kmeans): 20 rows to label" in out and "accepted 20 answers" in out
    exported = list(csv.DictReader((tmp / "labels.csv").read_text().splitlines()))
    assert len(exported) == 20 and all(int(r["label"]) == y[int(r["id"])] for r in exported)
    assert cli.main(["session", "query", "labels"]) == 0  # the next batch: now a model is trained
    assert "round 1 (rlmba): 20 rows to label" in capsys.readouterr().out


def test_readme_library_call():
    scope = {}
    exec(_blocks(ROOT / "README.md", "python", "## Label your own pool")[0], scope)
    picks = scope["picks"]
    assert picks.dtype == torch.int64 and picks.shape == (100,) and picks.unique().numel() == 100


def test_docs_example_on_a_two_modality_model():
    scope = {}
    exec(_blocks(ROOT / "docs/labeling.md", "python")[0], scope)
    picks = scope["picks"]
    assert picks.dtype == torch.int64 and picks.shape == (100,) and picks.unique().numel() == 100
    assert int(picks.max()) < 5000


def test_docs_python_session(pool_dir):
    import rlmba
    scope = {"rlmba": rlmba}
    exec(_blocks(ROOT / "docs/labeling.md", "python")[1], scope)
    assert (pool_dir[0] / "labels.csv").read_text().count("\n") == 3  # header + the two answers
