"""The built wheel is self-contained: the Triton kernels (top-level kernels/) and the compiled
module ship inside the rlmba package and import from the installed wheel, not the source tree."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_kernels_and_extension(tmp_path):
    env = dict(os.environ, RLMBA_CUDA="OFF")  # the CUDA build is covered by `make build`
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-build-isolation", "--no-deps",
                    "-q", "-w", str(tmp_path / "dist"), "-C", f"build-dir={tmp_path / 'build'}"],
                   check=True, env=env)
    wheel = next((tmp_path / "dist").glob("rlmba-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rlmba/kernels/scoring.py" in names
    assert "rlmba/data/mfeat.npz" in names and "rlmba/data/DATA.md" in names
    assert any(n.startswith("rlmba/_C") and n.endswith(".so") for n in names)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site")
    # The development install is editable: drop its import redirect so the wheel's files are used.
    probe = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
             "if type(f).__name__ != 'ScikitBuildRedirectingFinder']; "
             "import rlmba, rlmba.kernels.scoring as k, rlmba._C as c; "
             "print(rlmba.__file__); print(k.__file__); print(c.__file__)")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), TRITON_INTERPRET="1")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout.split()
    assert all(path.startswith(str(tmp_path / "site")) for path in out), out


def test_install_without_a_cpp_compiler(tmp_path):
    """No C++ compiler at build time: the wheel installs without rlmba._C, `rlmba info` says why,
    and the CPU ops dispatch to numba (not run here: numba's first compile takes a minute)."""
    env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"), RLMBA_CUDA="AUTO")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-build-isolation", "--no-deps", "-q",
                    "-w", str(tmp_path / "dist")], check=True, env=env)
    wheel = next((tmp_path / "dist").glob("rlmba-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    # rlmba/_C.pyi (the stub) ships either way; the compiled module must not.
    assert not any(n.startswith("rlmba/_C") and n.endswith(".so") for n in names), names
    assert "rlmba/_build.json" in names and "rlmba/_C.pyi" in names
    assert "rlmba/py.typed" in names and any(n.endswith("licenses/LICENSE") for n in names)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site")
    probe = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
             "if type(f).__name__ != 'ScikitBuildRedirectingFinder']; "
             "import torch, rlmba; from rlmba.info import report; print(report())\n"
             "with rlmba.trace() as calls: rlmba._dispatch.dispatch('efda_scores', 'cpu', dtype=torch.float32, "
             "kind='variance', C=5)\n"
             "print(calls); print(rlmba.__file__)")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout
    assert "build: cpp: not built: no working C++ compiler at build time" in out, out
    assert "compiled module: not available" in out and "cpu  cpp     unusable" in out
    assert out.splitlines()[-2] == "[('efda_scores', 'numba')]"
    assert out.splitlines()[-1].startswith(str(tmp_path / "site"))
