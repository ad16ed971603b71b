"""The sft stage on a prepared dataset: same run as the in-memory path,
exact resume after a stop at an arbitrary step, config errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from r1jax import checkpoint as ckpt_lib
from r1jax.data import prepared
from r1jax.trainers import sft
from tests.trainers import multiprocess_test as mp_test
from tests.trainers import util


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """(tokenizer path, train.jsonl, prepared dir)."""
  d = str(tmp_path_factory.mktemp("stream"))
  tok = util.tokenizer(d)
  rng = np.random.default_rng(0)
  path = os.path.join(d, "train.jsonl")
  with open(path, "w") as f:
    for a, b, k in rng.integers(1, 50, (120, 3)):
      f.write(json.dumps({"prompt": f"{a} + {b} =",
                          "completion": f" {a + b}" * int(k % 4 + 1)}) + "\n")
  out = os.path.join(d, "prepared")
  prepared.prepare([path], out, tok, records_per_shard=16)
  return tok, path, out


def _config(tok, **kw):
  c = util.sft_config_tiny(**{"tokenizer": tok, "data.corpus": "",
                              "steps": 5, "log.every": 1, **kw})
  c.data.seq_len = 32
  return c


def stream_config(tok, data, steps):
  """The 2-process run's config (tests/trainers/stream_worker.py)."""
  return _config(tok, **{"data.prepared_dir": data, "mesh.shape": (2, 2, 2),
                         "steps": steps, "data.prefetch": 0})


def _same(a, b):
  assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5]
  for step in a:
    for k, v in a[step].items():
      assert b[step][k] == pytest.approx(v, rel=1e-6, abs=1e-9), (step, k)


def test_streamed_run_equals_in_memory_and_resumes_exactly(
    files, tmp_path, monkeypatch):
  tok, path, out = files
  mem, whole, parts = (str(tmp_path / n) for n in ("mem", "whole", "parts"))
  sft.run(_config(tok, **{"data.train_file": path}), mem)
  sft.run(_config(tok, **{"data.prepared_dir": out}), whole)
  _same(util.metric_rows(mem), util.metric_rows(whole))
  # Stopped (as on SIGTERM) after step 2, then rerun: the same rows.
  real = ckpt_lib.PreemptionGuard.poll
  monkeypatch.setattr(ckpt_lib.PreemptionGuard, "poll",
                      lambda self, step, due=False: (True, False)
                      if step == 2 else real(self, step, due))
  sft.run(_config(tok, **{"data.prepared_dir": out}), parts)
  assert sorted(util.metric_rows(parts)) == [1, 2]
  monkeypatch.setattr(ckpt_lib.PreemptionGuard, "poll", real)
  sft.run(_config(tok, **{"data.prepared_dir": out}), parts)
  _same(util.metric_rows(whole), util.metric_rows(parts))


def test_config_errors_name_the_fields(files, tmp_path):
  tok, path, out = files
  c = _config(tok, **{"data.prepared_dir": out, "data.train_file": path})
  with pytest.raises(ValueError, match=r"config\.data\.prepared_dir=.* and "
                     r"config\.data\.train_file=.* are both set"):
    sft.validate(c)
  c = _config(tok, **{"data.prepared_dir": str(tmp_path)})
  with pytest.raises(ValueError, match="no metadata.json"):
    sft.validate(c)
  other = util.hf_tokenizer(str(tmp_path / "hf"))
  c = _config(other.path, **{"data.prepared_dir": out})
  with pytest.raises(ValueError, match="tokenizer mismatch") as e:
    sft.run(c, str(tmp_path / "w"))
  assert tok in str(e.value) and other.path in str(e.value)


@pytest.mark.slow
def test_two_processes_read_disjoint_shares_and_match_one(files, tmp_path):
  tok, path, _ = files
  out = str(tmp_path / "small")  # one epoch is a few steps
  prepared.prepare([path], out, tok, records_per_shard=8)
  steps = prepared.open_data(out, seq_len=32, batch_size=8,
                             seed=0).num_batches_per_epoch
  port = mp_test._free_port()  # pylint: disable=protected-access
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  multi = str(tmp_path / "multi")
  logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
  procs = []
  for i, log in enumerate(logs):
    with open(log, "w") as f:
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "tests.trainers.stream_worker", str(i),
           str(port), multi, tok, out, str(steps)],
          cwd=mp_test.ROOT, env=env, stdout=f, stderr=subprocess.STDOUT))
  one = str(tmp_path / "one")
  sft.run(stream_config(tok, out, steps), one)
  mp_test._wait(procs, logs, mp_test.TIMEOUT_S)  # pylint: disable=protected-access
  mp_test._compare(one, multi, ("loss", "grad_norm", "token_accuracy"))  # pylint: disable=protected-access
  reads = []
  for i in range(2):
    with open(os.path.join(multi, f"read_{i}.json")) as f:
      reads.append(json.load(f))
  assert reads[0] and reads[1] and not set(reads[0]) & set(reads[1])
  examples = prepared.read_metadata(out)["examples"]
  assert sorted(reads[0] + reads[1]) == list(range(examples))
