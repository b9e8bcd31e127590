"""User-facing contracts: the autograd rule of the compiled backends, the fitted-temperature
bound warning, and `rlmba info` under RLMBA_CPU_ISA."""
import os
import subprocess
import sys
import warnings

import pytest
import torch

import rlmba
from rlmba import _dispatch
from rlmba._dispatch import explain
from rlmba.learn.evidential import fit_temperature

from conftest import backend_or_skip


def _calls(x):
    return {"fuse_evidence": lambda b: rlmba.fuse_evidence(x, backend=b),
            "efda_scores": lambda b: rlmba.efda_scores(x, backend=b)[0],
            "dirichlet_uncertainty": lambda b: rlmba.dirichlet_uncertainty(1 + x[0].exp(), backend=b),
            "uncertainty_scores": lambda b: rlmba.entropy(x[0], from_logits=True, backend=b),
            "bald": lambda b: rlmba.bald(x.softmax(-1), backend=b),
            "nearest_centroid": lambda b: rlmba.nearest_centroid(x[0], x[1, :3], backend=b)[0]}


@pytest.mark.parametrize("backend", ["cpp", "numba"])
@pytest.mark.parametrize("op", ["fuse_evidence", "efda_scores", "dirichlet_uncertainty", "uncertainty_scores",
                                "bald", "nearest_centroid"])
def test_compiled_backends_refuse_inputs_that_need_gradients(op, backend):
    assert _dispatch._ops[op].differentiable
    facts = dict(dtype=torch.float32, kind="variance", rule="weighted", C=5)
    backend_or_skip(op, backend, **{k: v for k, v in facts.items() if k in _dispatch._ops[op].facts})
    x = torch.randn(2, 40, 5, dtype=torch.float64, requires_grad=True)
    call = _calls(x)[op]
    with pytest.raises(ValueError, match=rf"{op}: an input requires grad, but the {backend} backend does not "
                                         rf"record gradients; pass backend='torch'"):
        call(backend)
    out = call("torch")  # the reference keeps the graph
    assert out.requires_grad
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():  # nothing to record: every backend runs
        torch.testing.assert_close(call(backend), call("torch"), rtol=1e-6, atol=1e-9)
    detached = _calls(x.detach())[op]
    torch.testing.assert_close(detached(backend), detached("torch"), rtol=1e-6, atol=1e-9)


def test_index_ops_ignore_requires_grad():
    scores = torch.randn(100, dtype=torch.float64, requires_grad=True)
    assert rlmba.topb_select(scores, 5).tolist() == scores.detach().topk(5).indices.tolist()


def test_fit_temperature_warns_at_its_bounds():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 5, generator=g, dtype=torch.float64)
    with pytest.warns(UserWarning, match=r"fitted temperature sits at its bound 20 \(range \[0.05, 20\]\)"):
        t = fit_temperature(z, torch.randint(0, 5, (400,), generator=g))  # labels unrelated to the logits
    assert t == pytest.approx(20, rel=0.01)
    with pytest.warns(UserWarning, match=r"sits at its bound 0.05"):
        fit_temperature(z * 100, z.argmax(1))  # perfectly separable: sharper is always better
    alpha = torch.nn.functional.softplus(z * 3) + 1  # labels drawn from the evidential model at T = 1
    y = torch.multinomial(alpha / alpha.sum(1, keepdim=True), 1, generator=g).squeeze(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = fit_temperature(z * 3, y)  # calibrated at an interior T: no warning
    assert 0.5 < t < 2


def test_info_reports_a_forced_isa_the_cpu_lacks():
    from rlmba import _dispatch
    if _dispatch.backend_reasons("cpp", "cpu"):
        pytest.skip("the C++ extension is not built")
    from rlmba import _C
    best = _C.cpu_isa("auto")
    lacking = {"baseline": "avx2", "avx2": "avx512"}.get(best)
    if lacking is None:
        pytest.skip(f"this CPU has {best}: no ISA to force that it lacks")
    env = dict(os.environ, RLMBA_CPU_ISA=lacking)
    out = subprocess.run([sys.executable, "-m", "rlmba.cli", "info"], capture_output=True, text=True, env=env,
                         check=True, timeout=120).stdout
    assert f"RLMBA_CPU_ISA='{lacking}'" in out
    assert f"cpu kernel path: unusable: RLMBA_CPU_ISA={lacking}: the CPU supports at most {best}" in out
    assert f"cpu  cpp     unusable: cannot import rlmba.backends.cpp: ValueError: RLMBA_CPU_ISA={lacking}" in out
    assert "cpu  numba   usable" in out
    assert not any(line.startswith("  cpu  cpp     usable") for line in out.splitlines())
    assert explain("efda_scores", "cpu")["cpp"] == []  # this process (no forced ISA) is unaffected
