"""Test setup: 8 simulated CPU devices, set before JAX is first imported."""
import os

from tests.cpu_flags import xla_flags  # pylint: disable=g-import-not-at-top

os.environ["XLA_FLAGS"] = xla_flags(8, os.environ.get("XLA_FLAGS", ""))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Reference tests compare float32 numbers; keep matmuls exact on CPU.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update("jax_numpy_rank_promotion", "raise")
# Tests that run a stage several times (resume, multi-process, main in a
# subprocess) compile the same programs; a persistent cache shared by the
# xdist workers and subprocesses compiles each once.
_CACHE = os.path.join(os.environ.get("TMPDIR", "/tmp"), "r1jax_test_jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
jax.config.update("jax_compilation_cache_dir",
                  os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
