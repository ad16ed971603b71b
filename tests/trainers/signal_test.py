"""GRPO says when it cannot learn, and its samples describe themselves.

A random model's completions all score 0: every group's rewards are equal,
every advantage is 0, and the run warns once (config.log.no_signal_steps).
A reward that differs within groups (the truncation penalty: a random
model stops early now and then) gives signal and no warning. Every row of
samples.jsonl holds the prompt, the reference answer, each reward, the
total, the length and the truncation flag.
"""
import json
import logging
import os

import pytest

from r1jax.trainers import grpo
from r1jax.trainers import samples as samples_lib
from tests.trainers import util

KEYS = {"step", "prompt", "reference", "completion", "rewards", "reward",
        "group_rewards", "length", "truncated"}


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return util.tokenizer(str(tmp_path_factory.mktemp("tok")))


def _warnings(caplog) -> list[str]:
  return [r.getMessage() for r in caplog.records
          if r.levelno == logging.WARNING and "no learning signal" in
          r.getMessage()]


def _samples(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "samples.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_constant_rewards_warn_once_with_the_reason(tmp_path, tok_path,
                                                    caplog):
  c = util.grpo_config(tok_path, **{"log.no_signal_steps": 2,
                                    "log.num_samples": 3})
  with caplog.at_level(logging.WARNING):
    grpo.run(c, str(tmp_path))
  rows = util.metric_rows(str(tmp_path))
  assert [rows[s]["zero_std_frac"] for s in (1, 2, 3, 4)] == [1.0] * 4
  assert [rows[s]["no_signal_steps"] for s in (1, 2, 3, 4)] == [1, 2, 3, 4]
  warned = _warnings(caplog)
  assert len(warned) == 1, warned  # once, not every step
  assert "every advantage is 0" in warned[0]
  assert "every reward is 0" in warned[0].lower()
  assert "config.init_from is empty" in warned[0]
  # Device rewards: per-row rewards from the compiled step.
  got = _samples(str(tmp_path))
  assert [r["step"] for r in got] == [2] * 3 + [4] * 3
  for r in got:
    assert set(r) == KEYS, r
    assert r["prompt"].startswith("Compute ") and r["reference"]
    assert set(r["rewards"]) == {"accuracy", "format"}
    assert r["reward"] == 0.0 and r["group_rewards"] == [0.0] * 4
    assert 1 <= r["length"] <= 8 and isinstance(r["truncated"], bool)


def test_rewards_that_differ_within_groups_do_not_warn(tmp_path, tok_path,
                                                       caplog):
  """Host rewards with the truncation penalty: samples carry every reward
  the host computed, and their totals differ within some group."""
  c = util.grpo_config(tok_path, **{
      "log.no_signal_steps": 2, "rl.max_new_tokens": 24,
      "rewards.truncation": 1.0, "rl.host_rewards": True,
      "data.train_file": util.rl_jsonl(str(tmp_path))})
  with caplog.at_level(logging.WARNING):
    grpo.run(c, str(tmp_path / "run"))
  rows = util.metric_rows(str(tmp_path / "run"))
  assert max(rows[s]["no_signal_steps"] for s in (1, 2, 3, 4)) < 2, rows
  assert not _warnings(caplog)
  got = _samples(str(tmp_path / "run"))
  assert got and all(set(r) == KEYS for r in got)
  for r in got:
    assert {"accuracy", "format", "truncation"} <= set(r["rewards"])
    want = sum(c.rewards[k] * v for k, v in r["rewards"].items())
    assert r["reward"] == pytest.approx(want)
    assert r["rewards"]["truncation"] == (-1.0 if r["truncated"] else 0.0)
  assert any(len(set(r["group_rewards"])) > 1 for r in got)


@pytest.mark.parametrize("means, weights, expected", [
    ({"reward/accuracy": 0.0, "reward/format": 0.0}, {"accuracy": 1,
                                                      "format": 1},
     "config.template='r1_zero', think_opened=true"),
    ({"reward/accuracy": 0.5, "reward/format": 0.0}, {"accuracy": 1,
                                                      "format": 1},
     "format mismatch with the template"),
    ({"reward/accuracy": 0.0, "reward/format": 1.0}, {"accuracy": 1,
                                                      "format": 1},
     "never right"),
    # A weight-0 reward is shown, not used: accuracy alone decides.
    ({"reward/accuracy": 1.0, "reward/format": 0.0}, {"accuracy": 1,
                                                      "format": 0},
     "scores the same"),
])
def test_message_names_the_likely_cause(means, weights, expected):
  m = dict(means, **{"reward/total": 0.0, "reward/accuracy/std": 0.0,
                     "zero_std_frac": 1.0})
  msg = grpo.no_signal_message(m, 5, weights, "r1_zero", True, "/base")
  assert expected in msg.lower() and "no learning signal for 5 steps" in msg
  assert "accuracy=" in msg and "std=" not in msg


def test_warning_fires_once_and_zero_turns_it_off():
  warn = grpo.NoSignalWarning(3, weights={}, template="plain",
                              think_opened=False)
  fired = [warn({"no_signal_steps": n}) for n in (1, 2, 3, 4, 0, 3)]
  assert fired == [False, False, True, False, False, False]
  off = grpo.NoSignalWarning(0, weights={}, template="plain",
                             think_opened=False)
  assert not off({"no_signal_steps": 100})


def test_sample_rows_resume_like_metrics(tmp_path):
  """A fresh run drops old rows; a resumed run keeps those up to its
  start step (they were written before its checkpoint)."""
  w = samples_lib.Writer(str(tmp_path), is_chief=True)
  w.start(0)
  w.write([{"step": s} for s in (2, 4, 6)])
  w = samples_lib.Writer(str(tmp_path), is_chief=True)
  w.start(4)
  w.write([{"step": 6, "x": 1}])
  assert _samples(str(tmp_path)) == [{"step": 2}, {"step": 4},
                                     {"step": 6, "x": 1}]
  w = samples_lib.Writer(str(tmp_path), is_chief=True)
  w.start(0)
  w.write([])
  assert _samples(str(tmp_path)) == []
