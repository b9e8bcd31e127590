"""Backend choice: argument > RLMBA_BACKEND > priority list; explained failures; logged fallbacks."""
import logging

import pytest
import torch

import rlmba
import rlmba._dispatch as dispatch

Z = torch.randn(2, 7, 4)


def test_explicit_backend_runs_and_is_traced():
    with rlmba.trace() as calls:
        rlmba.efda_scores(Z, backend="torch")
    assert calls == [("efda_scores", "torch")]


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match=r"backend='fortran' is not a backend"):
        rlmba.efda_scores(Z, backend="fortran")


def test_explicit_backend_that_cannot_run_raises_with_its_reasons():
    with pytest.raises(rlmba.BackendError, match=r"backend 'cuda' cannot run on cpu: .*CUDA"):
        rlmba.efda_scores(Z, backend="cuda")


def test_environment_variable_chooses_the_backend(monkeypatch):
    monkeypatch.setenv("RLMBA_BACKEND", "torch")
    with rlmba.trace() as calls:
        rlmba.efda_scores(Z)
    assert calls == [("efda_scores", "torch")]
    monkeypatch.setenv("RLMBA_BACKEND", "nope")
    with pytest.raises(ValueError, match="RLMBA_BACKEND='nope'"):
        rlmba.efda_scores(Z)


def _only_torch_usable(monkeypatch):
    real = dispatch._impl_reasons

    def fake(op, backend, device, facts):
        return real(op, backend, device, facts) if backend == "torch" else (None, [f"{backend} disabled by test"])

    monkeypatch.setattr(dispatch, "_impl_reasons", fake)
    monkeypatch.setattr(dispatch, "_logged", set())


def test_fallback_is_logged_once(monkeypatch, caplog):
    _only_torch_usable(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="rlmba"), rlmba.trace() as calls:
        rlmba.efda_scores(Z)
        rlmba.efda_scores(Z)
    assert calls == [("efda_scores", "torch")] * 2
    warnings = [r for r in caplog.records if r.name == "rlmba"]
    assert len(warnings) == 1 and "cpp disabled by test" in warnings[0].getMessage()


def test_strict_mode_turns_a_fallback_into_an_error(monkeypatch):
    _only_torch_usable(monkeypatch)
    monkeypatch.setenv("RLMBA_STRICT", "1")
    with pytest.raises(rlmba.BackendError) as err:
        rlmba.efda_scores(Z)
    assert "using torch" in str(err.value) and "cpp disabled by test" in str(err.value)
    assert "RLMBA_STRICT=1" in str(err.value)


def test_no_backend_at_all_lists_every_reason(monkeypatch):
    monkeypatch.setattr(dispatch, "_impl_reasons", lambda op, b, d, f: (None, [f"{b} off"]))
    with pytest.raises(rlmba.BackendError, match=r"no backend can run on cpu:\n  cpp: cpp off\n  numba: numba off\n  torch: torch off"):
        rlmba.efda_scores(Z)


def test_explain_gives_reasons_for_every_backend():
    reasons = rlmba.explain("efda_scores", "cpu", dtype=torch.float32, kind="variance")
    assert set(reasons) == set(dispatch.BACKENDS)
    assert reasons["torch"] == []
    assert reasons["cuda"] and all(isinstance(r, str) for r in reasons["cuda"])


def test_explain_speaks_the_public_names():
    for name in ("kmeans_plusplus", "entropy", "margin", "kmeans", "k_center_greedy"):
        reasons = rlmba.explain(name, "cpu", dtype=torch.float32)
        assert reasons["torch"] == [], name
    assert "entropy" in dispatch.public_ops() and "kmeans" in dispatch.public_ops()
    with pytest.raises(ValueError, match="'entropyy' is not an op"):
        rlmba.explain("entropyy", "cpu")


def test_a_fact_the_op_does_not_declare_is_a_type_error():
    with pytest.raises(TypeError, match=r"efda_scores: unknown facts \['kindd'\]"):
        dispatch.dispatch("efda_scores", "cpu", dtype=torch.float32, kindd="variance")


def test_reasons_come_from_the_declarations():
    assert any("float32, float64" in r for r in rlmba.explain("badge_select", "cpu", dtype=torch.float16)["cpp"])
    assert "cpp runs on CPU tensors only" in rlmba.explain("efda_scores", "cuda")["cpp"][0]
    # explicit-only devices are never chosen automatically: Triton's interpreter on CPU
    assert "triton" not in dispatch.automatic("cpu") and "triton" in dispatch.BACKENDS
    assert dispatch.automatic("cpu")[-1] == dispatch.REFERENCE
