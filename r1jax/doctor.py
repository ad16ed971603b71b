"""What JAX sees here: backend, devices, processes, mesh, versions.

  python -m r1jax.doctor [--mesh=1,-1,1] [--distributed]

Run it before a recipe on a new machine (on every host of a pod slice:
`gcloud compute tpus tpu-vm ssh $TPU --worker=all --command="cd r1jax &&
python -m r1jax.doctor --distributed"`). It prints one `name: value` line
per fact and a `WARNING:` line for each likely set-up mistake, e.g. an
NVIDIA GPU on the machine while JAX runs on the CPU (the CPU-only jaxlib
that `pip install -e .` installs). Exits with status 1 when it warned.
"""

from __future__ import annotations

import argparse
import collections
import glob
import importlib.metadata
import os
import platform
import shutil
import sys
from typing import Callable, Sequence

# Distribution names whose versions are printed ("-" when not installed).
PACKAGES = ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin",
            "libtpu", "flax", "optax", "orbax-checkpoint", "ml-collections",
            "tensorflow-cpu", "tensorflow", "transformers", "torch")
_INSTALL = {"gpu": "pip install -e '.[cuda]' (jax[cuda12]; '.[cuda13]' for "
                   "CUDA 13 drivers)",
            "tpu": "pip install -e '.[tpu]' (jax[tpu])"}


def version(dist: str) -> str | None:
  """The installed version of distribution `dist`, None if absent."""
  try:
    return importlib.metadata.version(dist)
  except importlib.metadata.PackageNotFoundError:
    return None


def parse_mesh(text: str) -> tuple[int, ...]:
  """'1,-1,1' (or '(1,-1,1)') -> (1, -1, 1)."""
  return tuple(int(s) for s in text.strip("()[] ").split(",") if s.strip())


def expected_accelerator(which: Callable[[str], str | None] = shutil.which,
                         paths: Callable[[str], list[str]] = glob.glob
                         ) -> str | None:
  """'gpu' or 'tpu' when this machine appears to have one, else None."""
  if which("nvidia-smi") or paths("/dev/nvidia[0-9]*"):
    return "gpu"
  if paths("/dev/accel[0-9]*") or paths("/dev/vfio/[0-9]*"):
    return "tpu"
  return None


def warnings_for(backend: str, expected: str | None,
                 jax_platforms: str = "",
                 versions: dict[str, str | None] | None = None) -> list[str]:
  """Likely set-up mistakes, one sentence each."""
  versions = versions or {}
  if backend != "cpu" or expected is None:
    return []
  if jax_platforms:
    return [f"JAX_PLATFORMS={jax_platforms} keeps JAX on the CPU although "
            f"this machine appears to have a {expected.upper()}; unset it "
            "to use the accelerator"]
  plugin = {"gpu": ("jax-cuda12-plugin", "jax-cuda13-plugin"),
            "tpu": ("libtpu",)}[expected]
  installed = [p for p in plugin if versions.get(p)]
  if installed:
    return [f"{installed[0]} {versions[installed[0]]} is installed but JAX "
            f"fell back to the CPU: see JAX's log above (driver or "
            f"{'CUDA' if expected == 'gpu' else 'libtpu'} version mismatch, "
            "or another process holds the device)"]
  return [f"this machine appears to have a {expected.upper()} but JAX runs "
          f"on the CPU (CPU-only jaxlib): {_INSTALL[expected]}"]


def _device_lines(devices) -> list[str]:
  """'N x kind' per device kind, with memory per device where known."""
  kinds = collections.Counter(d.device_kind for d in devices)
  lines = []
  for kind, n in kinds.items():
    d = next(d for d in devices if d.device_kind == kind)
    stats = d.memory_stats() if hasattr(d, "memory_stats") else None
    mem = (f", {stats['bytes_limit'] / 2**30:.1f} GiB each"
           if stats and "bytes_limit" in stats else "")
    where = f" ({d.platform})" if d.platform != kind.lower() else ""
    lines.append(f"{n} x {kind}{where}{mem}")
  return lines


def report(mesh_shape: Sequence[int]) -> tuple[list[str], list[str]]:
  """(lines, warnings) describing JAX on this machine."""
  import jax  # pylint: disable=g-import-not-at-top
  from r1jax import sharding  # pylint: disable=g-import-not-at-top

  lines = [f"python: {platform.python_version()} ({sys.executable})",
           f"platform: {platform.platform()}"]
  backend = jax.default_backend()
  lines.append(f"backend: {backend}")
  lines += [f"devices: {l}" for l in _device_lines(jax.devices())]
  lines.append(f"device count: {jax.device_count()} global, "
               f"{jax.local_device_count()} on this process")
  lines.append(f"processes: {jax.process_count()} "
               f"(this is process {jax.process_index()})")
  try:
    mesh = sharding.make_mesh(tuple(mesh_shape))
    sizes = " ".join(f"{k}={v}" for k, v in mesh.shape.items())
    lines.append(f"mesh {tuple(mesh_shape)}: {sizes}")
    problems = []
  except ValueError as e:
    lines.append(f"mesh {tuple(mesh_shape)}: {e}")
    problems = [f"--mesh: {e}"]
  versions = {p: version(p) for p in PACKAGES}
  lines += [f"version {p}: {v or '-'}" for p, v in versions.items()]
  problems += warnings_for(backend, expected_accelerator(),
                           os.environ.get("JAX_PLATFORMS", ""), versions)
  return lines, problems


def main(argv: Sequence[str] | None = None) -> int:
  ap = argparse.ArgumentParser(
      prog="python -m r1jax.doctor", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--mesh", default="1,-1,1", type=parse_mesh,
                  help="(data, fsdp, tensor) mesh shape to build, as "
                  "config.mesh.shape; one size may be -1 (default: 1,-1,1)")
  ap.add_argument("--distributed", action="store_true",
                  help="call jax.distributed.initialize() first, as "
                  "`r1jax.main --distributed` does (one process per host)")
  a = ap.parse_args(argv)
  if a.distributed:
    import jax  # pylint: disable=g-import-not-at-top
    jax.distributed.initialize()
  lines, problems = report(a.mesh)
  print("\n".join(lines))
  for p in problems:
    print(f"WARNING: {p}")
  sys.stdout.flush()
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main())
