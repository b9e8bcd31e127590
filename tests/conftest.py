"""Test setup. Triton's interpreter must be switched on before any kernel is decorated, so
TRITON_INTERPRET=1 is set here, before rlmba (and with it rlmba.kernels) is imported."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

import rlmba._dispatch as dispatch  # noqa: E402

settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ALL_BACKENDS = dispatch.BACKENDS
# backends chosen automatically on CPU: native code, fast enough for the bigger pools
NATIVE_CPU = dispatch.automatic("cpu")


def backend_or_skip(op: str, backend: str, device: str = "cpu", **facts) -> str:
    """The backend name, or skip the test with the reasons it cannot run ``op`` here."""
    reasons = dispatch.explain(op, device, **facts)[backend]
    if reasons:
        pytest.skip(f"{backend} cannot run {op} on {device}: {'; '.join(reasons)}")
    return backend


@pytest.fixture
def gen():
    """A fresh, seeded generator per test: fresh random data, reproducible failures."""
    return torch.Generator().manual_seed(torch.randint(0, 2**31 - 1, (1,)).item())


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny models (a second thread only adds synchronisation on a
    busy machine, and the loop's results are compared bit for bit); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
