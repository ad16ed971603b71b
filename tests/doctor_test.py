"""Tests for r1jax.doctor."""
import os
import subprocess
import sys

import jax

from r1jax import doctor
from tests.cpu_flags import xla_flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _doctor(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=xla_flags(8))
  return subprocess.run([sys.executable, "-m", "r1jax.doctor", *args],
                        cwd=_ROOT, env=env, capture_output=True, text=True,
                        timeout=300)


def test_reports_backend_devices_mesh_and_versions():
  r = _doctor("--mesh=2,-1,1")
  lines = r.stdout.splitlines()
  assert r.returncode == 0, r.stdout + r.stderr[-3000:]
  assert "backend: cpu" in lines
  assert "devices: 8 x cpu" in lines
  assert "device count: 8 global, 8 on this process" in lines
  assert "processes: 1 (this is process 0)" in lines
  assert "mesh (2, -1, 1): data=2 fsdp=4 tensor=1" in lines
  assert f"version jax: {jax.__version__}" in lines
  for dist in ("jaxlib", "flax", "optax", "orbax-checkpoint", "torch"):
    assert any(l.startswith(f"version {dist}: ") for l in lines), dist
  assert not any(l.startswith("WARNING") for l in lines)


def test_a_mesh_that_does_not_fit_warns():
  r = _doctor("--mesh=3,-1,1")
  assert r.returncode == 1
  assert ("WARNING: --mesh: mesh shape [3, -1, 1] does not fit 8 devices"
          in r.stdout.splitlines())


def test_expected_accelerator():
  none = lambda _: None  # noqa: E731
  assert doctor.expected_accelerator(none, lambda _: []) is None
  assert doctor.expected_accelerator(lambda n: "/usr/bin/" + n,
                                     lambda _: []) == "gpu"
  assert doctor.expected_accelerator(
      none, lambda p: ["/dev/accel0"] if "accel" in p else []) == "tpu"


def test_warns_when_an_accelerator_is_there_but_jax_is_on_cpu():
  [w] = doctor.warnings_for("cpu", "gpu")
  assert "GPU" in w and "[cuda]" in w and "jax[cuda12]" in w
  [w] = doctor.warnings_for("cpu", "tpu")
  assert "jax[tpu]" in w
  [w] = doctor.warnings_for("cpu", "gpu", "cpu")
  assert "JAX_PLATFORMS=cpu" in w
  [w] = doctor.warnings_for("cpu", "gpu",
                            versions={"jax-cuda12-plugin": "0.10.2"})
  assert "jax-cuda12-plugin 0.10.2 is installed" in w
  assert doctor.warnings_for("gpu", "gpu") == []
  assert doctor.warnings_for("cpu", None) == []
  assert doctor.parse_mesh("(1,-1,1)") == (1, -1, 1)
