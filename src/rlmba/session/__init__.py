"""Label your own pool: a resumable labeling session (query -> people label -> the next query).

    rlmba session init DIR --data POOL.npz [--strategy rlmba] [--budget B] [--seed S]
    rlmba session query DIR [--budget B] [--replace] [--device cuda] [--threads N]
    rlmba session label DIR ANSWERS.csv          # columns id,label (or .jsonl)
    rlmba session status DIR                     # rounds, labels per class, metrics, learning_curve.png
    rlmba session export DIR --out labels.csv    # every label held (.csv or .npz)

or in Python, ``rlmba.Session.init(DIR, data=...)``, ``rlmba.Session(DIR).query()`` ...

The pool file is rlmba's feature format with ``y = -1`` for unlabeled rows (see
:mod:`rlmba.session.pool` for validation rows and the hold-out rule). A session directory holds
``session.json`` (the settings, fixed at init), ``state.json`` (labels in labelling order,
held-out validation rows, every round's asked ids, scores and metrics, the pending query),
``queries/round-NNN.csv`` and ``.jsonl`` (columns ``id,strategy,score``), and after ``status``
``learning_curve.png``. Every write is atomic and a lock keeps out a second writer, so a session
survives SIGKILL at any moment (:mod:`rlmba.session.store`).
"""
from .store import SessionError

__all__ = ["Session", "Query", "SessionError"]


def __getattr__(name: str):
    if name in ("Session", "Query"):  # imported on first use: the command line's parser needs none of it
        from . import session
        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
