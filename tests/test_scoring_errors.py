"""Bad input to the scoring ops: each error names the argument and what was wrong."""
import numpy as np
import pytest
import torch

import rlmba

Z = torch.randn(2, 5, 3)


@pytest.mark.parametrize("call,error,match", [
    (lambda: rlmba.efda_scores(torch.randn(5, 3)), ValueError, r"logits: expected a 3-D tensor \[M, N, C\]"),
    (lambda: rlmba.efda_scores([torch.randn(5, 3), torch.randn(4, 3)]), ValueError, r"logits\[1\]: shape"),
    (lambda: rlmba.efda_scores([torch.randn(5, 3), torch.randn(5, 3).double()]), TypeError, r"logits\[1\]: dtype"),
    (lambda: rlmba.efda_scores(torch.zeros(2, 5, 3, dtype=torch.int64)), TypeError, r"logits\[0\]: expected a floating"),
    (lambda: rlmba.efda_scores(torch.randn(2, 0, 3)), ValueError, r"logits: the pool is empty"),
    (lambda: rlmba.efda_scores(torch.randn(2, 5, 0)), ValueError, r"logits: no classes"),
    (lambda: rlmba.efda_scores([]), ValueError, r"logits: no modalities"),
    (lambda: rlmba.efda_scores("logits"), TypeError, r"logits: expected"),
    (lambda: rlmba.efda_scores(Z, weights=[1.0]), ValueError, r"weights: expected 2 values"),
    (lambda: rlmba.efda_scores(Z, weights=[0.7, 0.7]), ValueError, r"weights: must sum to 1"),
    (lambda: rlmba.efda_scores(Z, weights=[1.5, -0.5]), ValueError, r"weights: must be non-negative"),
    (lambda: rlmba.efda_scores(Z, weights=[float("nan"), 1.0]), ValueError, r"weights: values must be finite"),
    (lambda: rlmba.efda_scores(Z, temperatures=[1.0, 0.0]), ValueError, r"temperatures: must be > 0"),
    (lambda: rlmba.efda_scores(Z, temperatures=[1.0, -2.0]), ValueError, r"temperatures: must be > 0"),
    (lambda: rlmba.efda_scores(Z, temperatures=[1.0, 2.0, 3.0]), ValueError, r"temperatures: expected 2 values"),
    (lambda: rlmba.efda_scores(Z, kind="std"), ValueError, r"kind: expected one of"),
    (lambda: rlmba.efda_scores(Z, chunk_size=0), ValueError, r"chunk_size: expected 1 <= chunk_size"),
    (lambda: rlmba.fuse_evidence(Z, rule="mean"), ValueError, r"rule: expected one of"),
    (lambda: rlmba.fuse_evidence(Z, weights=[0.5, 0.5], rule="ds"), ValueError, r"weights: the 'ds' rule"),
    (lambda: rlmba.dirichlet_uncertainty(torch.rand(5)), ValueError, r"alpha: expected a 2-D tensor"),
    (lambda: rlmba.dirichlet_uncertainty([[1.0, 2.0]]), TypeError, r"alpha: expected a torch.Tensor or numpy"),
    (lambda: rlmba.uncertainty_scores(torch.rand(5, 1)), ValueError, r"probs: margin scores need at least 2"),
    (lambda: rlmba.entropy(torch.ones(5, 3, dtype=torch.int32)), TypeError, r"probs: expected a floating"),
    (lambda: rlmba.bald(torch.rand(5, 3)), ValueError, r"probs: expected a 3-D tensor \[S, N, C\]"),
    (lambda: rlmba.bald(torch.rand(0, 5, 3)), ValueError, r"probs: no MC samples"),
    (lambda: rlmba.bald(torch.rand(2, 0, 3)), ValueError, r"probs: the pool is empty"),
])
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mismatched_devices_are_rejected():
    meta = torch.randn(5, 3, device="meta")
    with pytest.raises(ValueError, match=r"logits\[1\]: on meta, but logits\[0\] is on cpu"):
        rlmba.efda_scores([torch.randn(5, 3), meta])


def test_numpy_weights_and_scalar_temperature_are_accepted():
    u, _ = rlmba.efda_scores(Z.numpy(), weights=np.array([0.25, 0.75]), temperatures=2.0)
    assert isinstance(u, np.ndarray) and u.shape == (5,)
