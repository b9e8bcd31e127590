"""The suite's one tolerance rule (flash-attention's): a backend passes when its error against
the float64 reference is at most twice the error of the plain PyTorch reference run in the same
dtype on the same inputs, plus a small absolute slack per compute dtype."""
import torch

# compute dtype -> (atol, rtol) slack on top of 2x the PyTorch error
SLACK = {
    torch.float64: (1e-12, 1e-10),
    torch.float32: (2e-6, 2e-6),
}


def max_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    both = torch.isfinite(ref) & torch.isfinite(x)
    return (x.double()[both] - ref[both]).abs().max().item() if both.any() else 0.0


def assert_matches_reference(out, ref64, ref_same, what: str = "") -> None:
    """out: the backend's result; ref64: reference in float64; ref_same: reference in out's dtype."""
    out, ref64, ref_same = (torch.as_tensor(t) for t in (out, ref64, ref_same))
    atol, rtol = SLACK[ref_same.dtype]
    atol += 2 * max_err(ref_same, ref64)
    torch.testing.assert_close(out.double(), ref64.double(), atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{what}: {m}")
