"""Reading and checking an annotators' answers file before anything changes.

Formats: CSV with a header holding ``id`` and ``label`` columns (others are ignored, e.g. an
annotator's name), or JSON lines (``.jsonl``), one ``{"id": ..., "label": ...}`` object per
line. ``id``: the row's index in the pool file. ``label``: a class index 0..C-1 or, where the pool
file has ``class_names``, a class name (names are matched first).

A file is refused as a whole, with every bad line named, if it has: an id that is not a pool row,
an id the pending query did not ask for, a label out of range or not a class name, the same id
twice, or a label that differs from the one the session already holds for that id. An answer
equal to a label the session already holds is no error and no change (re-sending a file, e.g.
after a crash, is harmless).
"""
from __future__ import annotations

import csv
import json
import os

from .store import SessionError

MAX_LISTED = 20


def _rows(path: str):
    """(line number, raw id, raw label) of each answer in the file."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            cols = [c.strip() for c in reader.fieldnames or []]
            if "id" not in cols or "label" not in cols:
                raise SessionError(f"{path}: line 1: the header must name the columns id and label, got {cols}")
            reader.fieldnames = cols
            return [(i + 2, row.get("id"), row.get("label")) for i, row in enumerate(reader)]
    if ext in (".jsonl", ".ndjson"):
        rows = []
        with open(path) as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SessionError(f"{path}: line {i}: not JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise SessionError(f"{path}: line {i}: expected an object with id and label")
                rows.append((i, obj.get("id"), obj.get("label")))
        return rows
    raise SessionError(f"{path}: answers must be a .csv (columns id,label) or a .jsonl file")


def _as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def parse_label(raw, num_classes: int, class_names: list[str]) -> tuple[int | None, str | None]:
    """(class index, None) or (None, what is wrong)."""
    if isinstance(raw, str) and raw.strip() in class_names:
        return class_names.index(raw.strip()), None
    c = _as_int(raw)
    if c is None:
        names = f" or a class name ({', '.join(class_names)})" if class_names else ""
        return None, f"label {raw!r} is not a class index{names}"
    if not 0 <= c < num_classes:
        return None, f"label {c} is out of range [0, {num_classes})"
    return c, None


def check_answers(rows, *, n: int, num_classes: int, class_names: list[str], asked: list[int],
                  labels: dict[int, int], where: str) -> tuple[list[tuple[int, int]], int]:
    """(new answers as (id, label) in the order of ``asked``, count of answers already held).

    ``rows``: (line, raw id, raw label); ``asked``: the pending query's unanswered ids;
    ``labels``: the labels the session holds. Raises :class:`SessionError` listing every bad
    line; then nothing may change."""
    pending, seen, new, problems, already = set(asked), {}, {}, [], 0
    for line, raw_id, raw_label in rows:
        i = _as_int(raw_id)
        label, bad = parse_label(raw_label, num_classes, class_names)
        if i is None:
            problems.append(f"line {line}: id {raw_id!r} is not an integer row id")
        elif not 0 <= i < n:
            problems.append(f"line {line}: id {i} is not a row of the pool (ids 0..{n - 1})")
        elif i in seen:
            what = "conflicting answers" if seen[i][1] != label else "a second answer"
            problems.append(f"line {line}: id {i}: {what} (first on line {seen[i][0]})")
        elif bad:
            problems.append(f"line {line}: id {i}: {bad}")
        elif i in labels and labels[i] != label:
            problems.append(f"line {line}: id {i}: label {label} conflicts with the label {labels[i]} it already has")
        elif i in labels:
            already += 1
        elif i not in pending:
            problems.append(f"line {line}: id {i} was not asked for in the pending query"
                            + ("" if pending else " (no query is pending)"))
        else:
            new[i] = label
        if i is not None and i not in seen:
            seen[i] = (line, label)
    if not rows:
        problems.append("no answers in the file")
    if problems:
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise SessionError(f"{where}: refused, nothing was changed:\n  " + "\n  ".join(problems[:MAX_LISTED]) + more)
    return [(i, new[i]) for i in asked if i in new], already


def read_answers(path: str) -> list:
    if not os.path.exists(path):
        raise SessionError(f"{path}: no such answers file")
    return _rows(path)
