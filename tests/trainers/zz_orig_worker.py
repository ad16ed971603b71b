"""One of two `jax.distributed` CPU processes (gloo), 4 devices each.

  python -m tests.trainers.multiprocess_worker PROCESS_ID PORT ROOT TOK

Runs the sft and grpo stages for 2 steps on a (2, 2, 2) mesh spanning both
processes, into ROOT/sft and ROOT/grpo (shared by the two processes).
"""
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(pid: int, port: int, root: str, tok: str) -> None:
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2,
                             process_id=pid)
  assert jax.device_count() == 8 and jax.local_device_count() == 4
  from tests.trainers import util  # pylint: disable=g-import-not-at-top
  from r1jax.trainers import grpo, sft  # pylint: disable=g-import-not-at-top
  sft.run(util.multiprocess_sft(tok), os.path.join(root, "sft"))
  grpo.run(util.multiprocess_grpo(tok), os.path.join(root, "grpo"))
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
