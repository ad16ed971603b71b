"""Preemption with host rewards: SIGTERM reaches the reward workers and the
trainer in the middle of a step (as a TPU preemption signals the whole
process group). The workers must not die and score their in-flight items 0
into the step that is then checkpointed: the resumed run equals an
uninterrupted one, failures included."""
import os
import signal
import threading

import pytest

from r1jax.rewards import accuracy, pool
from r1jax.trainers import grpo
from tests.trainers import util


def test_sigterm_to_reward_workers_mid_step_checkpoints_nothing_wrong(
    tmp_path, monkeypatch):
  tok = util.tokenizer(str(tmp_path))
  train = util.rl_jsonl(str(tmp_path))
  cfg = lambda: util.grpo_config(tok, **{  # noqa: E731
      "data.train_file": train, "rl.host_rewards": True})
  # A random model writes no <answer>: read a deterministic guess off each
  # completion instead, so every row goes through the math-verify workers
  # (only the extraction, in this process, is replaced).
  monkeypatch.setattr(accuracy.extract, "extract_answer",
                      lambda text: str(len(text) % 7))
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  grpo.run(cfg(), whole)
  assert any(r["reward/accuracy"] > 0 for r in
             util.metric_rows(whole).values())

  orig_map = pool.TimeoutPool.map
  calls = []

  def map_with_sigterm(self, fn, args_list, timeout_s):
    calls.append(len(args_list))
    if len(calls) == 2:  # step 1's accuracy checks: workers already up
      victims = self.pids + [os.getpid()]
      timer = threading.Timer(
          0.01, lambda: [os.kill(p, signal.SIGTERM) for p in victims])
      timer.start()
    return orig_map(self, fn, args_list, timeout_s)

  monkeypatch.setattr(pool.TimeoutPool, "map", map_with_sigterm)
  grpo.run(cfg(), parts)
  assert len(calls) == 2 and sorted(util.metric_rows(parts)) == [1, 2]
  monkeypatch.setattr(pool.TimeoutPool, "map", orig_map)
  grpo.run(cfg(), parts)  # resumes at step 2
  a, b = util.metric_rows(whole), util.metric_rows(parts)
  assert sorted(a) == sorted(b) == [1, 2, 3, 4]
  for step in a:
    assert a[step]["reward/accuracy/failures"] == 0
    assert b[step]["reward/accuracy/failures"] == 0, step
    for k, v in a[step].items():
      assert b[step][k] == pytest.approx(v, rel=1e-6, abs=1e-9), (step, k)
