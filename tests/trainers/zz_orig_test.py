"""Two `jax.distributed` processes (gloo CPU collectives, 4 devices each)
give the same SFT and GRPO metrics as one process with 8 devices."""
import os
import socket
import subprocess
import sys

import pytest

from r1jax.trainers import grpo, sft
from tests.trainers import util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
  tok = util.tokenizer(str(tmp_path))
  port = _free_port()
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  procs = [subprocess.Popen(
      [sys.executable, "-m", "tests.trainers.zz_orig_worker", str(i),
       str(port), str(tmp_path / "multi"), tok], cwd=ROOT, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  # The single-process reference runs meanwhile (8 devices, same mesh).
  sft.run(util.multiprocess_sft(tok), str(tmp_path / "one" / "sft"))
  grpo.run(util.multiprocess_grpo(tok), str(tmp_path / "one" / "grpo"))
  for p in procs:
    out, _ = p.communicate(timeout=900)
    assert p.returncode == 0, out[-4000:]
  for stage, keys in (("sft", ("loss", "grad_norm", "token_accuracy")),
                      ("grpo", ("loss", "reward/total", "length/mean",
                                "kl_k3", "grad_norm", "eval/pass@1",
                                "reflection/words_mean"))):
    one = util.metric_rows(str(tmp_path / "one" / stage))
    multi = util.metric_rows(str(tmp_path / "multi" / stage))
    assert sorted(one) == sorted(multi)
    last = max(one)
    for k in keys:
      step = 0 if k.startswith("eval/") and k not in one[last] else last
      assert multi[step][k] == pytest.approx(one[step][k], rel=1e-4,
                                             abs=1e-6), (stage, k)
