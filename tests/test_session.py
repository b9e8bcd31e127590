"""The labeling session: a scripted annotator's session picks what ``rlmba run`` picks; bad answer
files are refused whole; the hold-out, cold-start, lock, status and export behaviours."""
import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from rlmba import cli
from rlmba.data import make_synthetic
from rlmba.learn import RLMBAStrategy
from rlmba.session import Session, SessionError
from rlmba.session.pool import holds_out
from rlmba.session.store import writer_lock

TRAIN = {"epochs": 2, "min_steps": 0}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """``full.npz`` (every label, the split) for rlmba run; ``pool.npz`` the same rows with the
    pool split unlabeled (y = -1) and class names; ``raw.npz`` features only."""
    d = tmp_path_factory.mktemp("pool")
    ds = make_synthetic(n=200, num_classes=3, dims=(5, 4), separation=(2.0, 0.5), seed=1)
    x = {"x_a": ds.features[0].numpy(), "x_b": ds.features[1].numpy()}
    y, split = ds.labels.numpy(), ds.split.numpy()
    np.savez(d / "full.npz", **x, y=y, split=split)
    np.savez(d / "pool.npz", **x, y=np.where(split == 0, -1, y), split=split,
             class_names=np.array(["ant", "bee", "cow"]), meta_url=np.array([f"img/{i}.png" for i in range(len(y))]))
    np.savez(d / "raw.npz", **x)
    return {"full": str(d / "full.npz"), "pool": str(d / "pool.npz"), "raw": str(d / "raw.npz"), "y": y, "split": split}


def annotate(session: Session, y) -> None:
    """The scripted annotator: the true label of every row of the pending query."""
    pending = session.state()["pending"]
    session.label({i: int(y[i]) for i in pending["ids"]})


def _policy_file(path) -> str:
    """A saved RL-MBA policy (untrained, default config): rlmba run --policy and the session read it."""
    s = RLMBAStrategy()
    s._build(2)
    s.save_policy(str(path))
    return str(path)


def _run_and_session(files, tmp_path, strategy):
    extra = []
    policy = None
    if strategy == "rlmba":
        policy = _policy_file(tmp_path / "policy.pt")
        extra = ["--policy", policy]
    rc = cli.main(["run", "--dataset", files["full"], "--strategy", strategy, "--seeds", "0", "--initial", "6",
                   "--budget", "5", "--rounds", "3", "--epochs", "2", "--min-steps", "0", "--threads", "1",
                   "--no-progress", "--out", str(tmp_path / "run"), *extra])
    assert rc == 0
    run = json.loads((tmp_path / "run" / "metrics.json").read_text())
    s = Session.init(str(tmp_path / "session"), files["pool"], strategy=strategy, budget=5, seed=0, initial=6,
                     cold_start="random", train=TRAIN, policy=policy)
    for _ in range(4):  # the cold start (rlmba run's initial labels), then 3 strategy rounds
        s.query(threads=1)
        annotate(s, files["y"])
    return run, s


@pytest.mark.parametrize("strategy", ["entropy", "badge", "rlmba"])
def test_scripted_session_picks_what_rlmba_run_picks(files, tmp_path, strategy):
    run, s = _run_and_session(files, tmp_path, strategy)
    state = s.state()
    assert [i for i, _ in state["labels"]] == run["labeled"][strategy]["0"]  # same rows, same order
    rounds = [r for r in state["rounds"] if r["kind"] == "strategy"]
    assert [r["metrics"]["val"] for r in rounds] == [h["val"] for h in run["runs"][strategy]["0"][:3]]
    assert [r["weights"] for r in rounds] == [h["weights"] for h in run["runs"][strategy]["0"][:3]]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["random", "margin", "least_confidence", "bald", "coreset", "bmmal", "deepfool",
                                      "gcnal", "uncertaingcn", "amcb_only", "efda_only"])
def test_scripted_session_picks_what_rlmba_run_picks_every_strategy(files, tmp_path, strategy):
    test_scripted_session_picks_what_rlmba_run_picks(files, tmp_path, strategy)


# ---------------------------------------------------------------- bad answers
def _session_with_a_pending_query(files, tmp_path) -> Session:
    s = Session.init(str(tmp_path / "s"), files["pool"], strategy="entropy", budget=4, initial=4, train=TRAIN)
    s.query()
    annotate(s, files["y"])
    s.query()
    return s


def _snapshot(directory) -> dict:
    return {p: Path(directory, p).read_bytes() for p in ("state.json", "session.json")}


def test_every_bad_answer_file_is_refused_and_changes_nothing(files, tmp_path):
    s = _session_with_a_pending_query(files, tmp_path)
    state = s.state()
    asked, y = state["pending"]["ids"], files["y"]
    done = state["labels"][0][0]
    val_row = int(np.flatnonzero(files["split"] == 1)[0])
    never_asked = next(i for i in np.flatnonzero(files["split"] == 0).tolist() if i not in asked
                       and i not in dict(state["labels"]))
    good = f"{asked[0]},{y[asked[0]]}\n"
    cases = {
        "not asked": (good + f"{never_asked},{y[never_asked]}\n", f"line 3: id {never_asked} was not asked for"),
        "file's validation row": (good + f"{val_row},{y[val_row]}\n", f"line 3: id {val_row} was not asked for"),
        "unknown id": (good + "200,0\n", "line 3: id 200 is not a row of the pool"),
        "negative id": (good + "-1,0\n", "line 3: id -1 is not a row of the pool"),
        "not an id": (good + "seven,0\n", "line 3: id 'seven' is not an integer"),
        "label out of range": (good + f"{asked[1]},3\n", rf"line 3: id {asked[1]}: label 3 is out of range \[0, 3\)"),
        "not a class name": (good + f"{asked[1]},wolf\n", "line 3: id .*: label 'wolf' is not a class index or"),
        "duplicate": (good + good, f"line 3: id {asked[0]}: a second answer"),
        "conflict in the file": (good + f"{asked[0]},{(y[asked[0]] + 1) % 3}\n",
                                 f"line 3: id {asked[0]}: conflicting answers"),
        "conflict with a held label": (good + f"{done},{(dict(state['labels'])[done] + 1) % 3}\n",
                                       f"line 3: id {done}: label .* conflicts with the label"),
    }
    before = _snapshot(s.dir)
    for name, (rows, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("id,label\n" + rows)
        with pytest.raises(SessionError, match=message):
            s.label(str(path))
        assert _snapshot(s.dir) == before, f"{name}: the refused file changed the session"
        rc = cli.main(["session", "label", s.dir, str(path)])
        assert rc == 2 and _snapshot(s.dir) == before, name
    for _name, text, message in [("no header", f"{asked[0]},{y[asked[0]]}\n", "line 1: the header must name"),
                                ("empty", "id,label\n", "no answers in the file")]:
        (tmp_path / "x.csv").write_text(text)
        with pytest.raises(SessionError, match=message):
            s.label(str(tmp_path / "x.csv"))
    (tmp_path / "x.jsonl").write_text(json.dumps({"id": asked[0], "label": "ant"}) + "\n{oops\n")
    with pytest.raises(SessionError, match="line 2: not JSON"):
        s.label(str(tmp_path / "x.jsonl"))
    (tmp_path / "x.txt").write_text(good)
    with pytest.raises(SessionError, match="must be a .csv"):
        s.label(str(tmp_path / "x.txt"))
    assert _snapshot(s.dir) == before


def test_good_answers_class_names_jsonl_and_partial_batches(files, tmp_path):
    s = _session_with_a_pending_query(files, tmp_path)
    asked, names = s.state()["pending"]["ids"], ["ant", "bee", "cow"]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"id": i, "label": names[files["y"][i]]}) + "\n"
                                              for i in asked[:2]))
    assert s.label(str(tmp_path / "a.jsonl"))["remaining"] == len(asked) - 2
    with pytest.raises(SessionError, match="round 1 is pending: 2 of 4 answered"):
        s.query()
    (tmp_path / "b.csv").write_text("annotator,id,label\n" + "".join(f"kim,{i},{files['y'][i]}\n" for i in asked))
    r = s.label(str(tmp_path / "b.csv"))  # the first two again (already held): no error, no change
    assert (r["accepted"], r["already"], r["remaining"]) == (2, 2, 0)
    labels = s.state()["labels"]
    assert [i for i, _ in labels[-4:]] == asked and all(c == files["y"][i] for i, c in labels)


def test_query_replace_keeps_answers_and_the_query_files(files, tmp_path):
    s = _session_with_a_pending_query(files, tmp_path)
    first = s.state()["pending"]["ids"]
    s.label({first[0]: int(files["y"][first[0]])})
    q = s.query(replace=True, budget=3)
    state = s.state()
    assert state["rounds"][1]["replaced"] and q.round == 2 and len(q.ids) == 3 and first[0] not in q.ids
    rows = list(csv.DictReader(Path(q.path).read_text().splitlines()))
    assert [int(r["id"]) for r in rows] == q.ids and {r["strategy"] for r in rows} == {"entropy"}
    assert [float(r["score"]) for r in rows] == q.scores and q.scores == sorted(q.scores, reverse=True)
    lines = [json.loads(x) for x in Path(q.path[:-4] + ".jsonl").read_text().splitlines()]
    assert [d["id"] for d in lines] == q.ids and lines[0]["round"] == 2


# ---------------------------------------------------------------- validation hold-out, cold start
def test_hold_out_is_stratified_as_labels_arrive(files, tmp_path):
    """No validation split in the file: each class keeps round(n_c / 5) of its labels in validation."""
    assert [k for k in range(1, 14) if holds_out(k - 1, 0.2)] == [3, 8, 13]
    s = Session.init(str(tmp_path / "s"), files["raw"], strategy="margin", budget=12, num_classes=3, train=TRAIN)
    y = files["y"]
    for _ in range(3):
        s.query()
        annotate(s, y)
    state = s.state()
    val = set(state["val"])
    for c in range(3):
        mine = [i for i, lab in state["labels"] if lab == c]
        assert sum(i in val for i in mine) == int(np.floor(len(mine) * 0.2 + 0.5)), c
    kinds = [r["kind"] for r in state["rounds"]]
    assert kinds[0] == "cold-start" and kinds[-1] == "strategy"
    last = state["rounds"][-1]
    held_then = [i for i, _ in state["labels"][:last["labels_before"]] if i in val]
    assert last["metrics"]["labels"] == last["labels_before"] - len(held_then) > 0  # trained without them


def test_kmeans_cold_start_is_representative_and_deterministic(files, tmp_path):
    a = Session.init(str(tmp_path / "a"), files["pool"], strategy="entropy", budget=6, seed=3).query()
    b = Session.init(str(tmp_path / "b"), files["pool"], strategy="entropy", budget=6, seed=3).query()
    assert a.ids == b.ids and a.strategy == "cold-start:kmeans" and len(set(a.ids)) == 6
    assert all(files["split"][i] == 0 for i in a.ids)  # never a validation or test row
    c = Session.init(str(tmp_path / "c"), files["pool"], strategy="entropy", budget=6, seed=4).query()
    assert c.ids != a.ids


# ---------------------------------------------------------------- command line, lock, status, export
def test_lock_refuses_a_second_writer(files, tmp_path):
    s = Session.init(str(tmp_path / "s"), files["pool"], strategy="entropy", budget=4, train=TRAIN)
    with writer_lock(s.dir):
        with pytest.raises(SessionError, match=f"busy: another rlmba process \\(pid {os.getpid()}\\)"):
            s.query()
        assert cli.main(["session", "label", s.dir, "none.csv"]) == 2
    s.query()  # released


def test_status_and_exports(files, tmp_path, capsys):
    s = _session_with_a_pending_query(files, tmp_path)
    assert cli.main(["session", "status", s.dir]) == 0
    out = capsys.readouterr().out
    assert "ant:" in out and "cold-start:kmeans" in out and "pending: round 1, 0 of 4 answered" in out
    assert (tmp_path / "s" / "learning_curve.png").stat().st_size > 0
    info = s.status(plot=False)
    assert [r["strategy"] for r in info["rounds"]] == ["cold-start:kmeans", "entropy"]
    assert info["rounds"][1]["val_top1"] == s.state()["rounds"][1]["metrics"]["val"]["top1"]
    assert cli.main(["session", "export", s.dir, "--out", str(tmp_path / "l.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "l.csv").read_text().splitlines()))
    y, labeled = files["y"], np.flatnonzero(files["split"] != 0).tolist() + [i for i, _ in s.state()["labels"]]
    assert sorted(int(r["id"]) for r in rows) == sorted(labeled)
    assert all(int(r["label"]) == y[int(r["id"])] for r in rows)
    s.export(str(tmp_path / "l.npz"))
    with np.load(tmp_path / "l.npz") as z:
        assert z["id"].tolist() == sorted(labeled) and z["validation"].sum() == (files["split"] == 1).sum()
    s.export(str(tmp_path / "t.json"), label_studio=True, field="url")
    tasks = json.loads((tmp_path / "t.json").read_text())
    ids = s.state()["pending"]["ids"]
    assert [t["data"]["id"] for t in tasks] == ids and tasks[0]["data"]["url"] == f"img/{ids[0]}.png"
    with pytest.raises(SessionError, match="no meta_text array"):
        s.export(str(tmp_path / "t.json"), label_studio=True, field="text")
    with pytest.raises(SessionError, match="expected a .csv or .npz"):
        s.export(str(tmp_path / "l.txt"))


def test_init_and_query_errors_name_the_problem(files, tmp_path):
    with pytest.raises(SessionError, match="not an rlmba session"):
        Session(str(tmp_path / "nothing"))
    with pytest.raises(SessionError, match="pass --num-classes"):
        Session.init(str(tmp_path / "a"), files["raw"])
    with pytest.raises(SessionError, match="unknown 'nope'"):
        Session.init(str(tmp_path / "a"), files["pool"], strategy="nope")
    with pytest.raises(SessionError, match="only the rlmba strategy reads a policy"):
        Session.init(str(tmp_path / "a"), files["pool"], strategy="entropy", policy=files["pool"])
    with pytest.raises(SessionError, match=r"config.train: unknown keys \['epoch'\]"):
        Session.init(str(tmp_path / "a"), files["pool"], train={"epoch": 3})
    with np.load(files["full"]) as z:
        bad = dict(z)
    bad["y"] = np.where(np.arange(len(bad["y"])) == int(np.flatnonzero(files["split"] == 2)[0]), -1, bad["y"])
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(SessionError, match="validation or test split but has no label"):
        Session.init(str(tmp_path / "a"), str(tmp_path / "bad.npz"))
    s = Session.init(str(tmp_path / "b"), files["pool"], strategy="entropy", budget=4, train=TRAIN)
    with pytest.raises(SessionError, match="already a session"):
        Session.init(str(tmp_path / "b"), files["pool"])
    with pytest.raises(SessionError, match="--budget: expected an int >= 1"):
        s.query(budget=0)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(Path(files["pool"]).read_bytes())
    t = Session.init(str(tmp_path / "c"), str(copy), strategy="entropy", budget=4)
    with np.load(files["pool"]) as z:
        np.savez(copy, **dict(z), x_c=np.zeros((200, 1)))
    with pytest.raises(SessionError, match="the pool file changed since"):
        t.query()
    assert cli.main(["session", "query", str(tmp_path / "nothing")]) == 2
