"""One of two `jax.distributed` CPU processes (gloo), 4 devices each, running
the sft stage on a prepared dataset (tests/trainers/sft_stream_test.py).

  python -m tests.trainers.stream_worker PROCESS_ID PORT WORKDIR TOK DATA STEPS

Writes WORKDIR/read_<PROCESS_ID>.json: the example ids this process read.
"""
import json
import os
import sys

from tests.cpu_flags import xla_flags  # pylint: disable=g-import-not-at-top

os.environ["XLA_FLAGS"] = xla_flags(4)
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(pid: int, port: int, workdir: str, tok: str, data: str,
         steps: int) -> None:
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2,
                             process_id=pid)
  assert jax.device_count() == 8 and jax.local_device_count() == 4
  # pylint: disable=g-import-not-at-top
  from r1jax.data import prepared
  from r1jax.trainers import sft
  from tests.trainers import sft_stream_test
  # pylint: enable=g-import-not-at-top
  seen = []
  read = prepared.PreparedSource.read

  def logged(self, ids):
    seen.extend(int(i) for i in ids)
    return read(self, ids)

  prepared.PreparedSource.read = logged
  sft.run(sft_stream_test.stream_config(tok, data, steps), workdir)
  with open(os.path.join(workdir, f"read_{pid}.json"), "w") as f:
    json.dump(seen, f)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
       sys.argv[5], int(sys.argv[6]))
