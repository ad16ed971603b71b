"""Self-describing RL samples: `<workdir>/samples.jsonl`.

One JSON row per sampled completion, readable without the run's config:
what was asked, what was expected, what came back and how it scored.

  {"step": s, "prompt": <question>, "reference": <answer>,
   "completion": <text>, "rewards": {<name>: value, ...}, "reward": total,
   "group_rewards": [total of each completion of the same prompt],
   "length": tokens, "truncated": bool}

Only process 0 writes. A run resumed at step s first drops the rows with
step > s (all of them when s = 0), as `metrics.Writer` does for
metrics.jsonl, so after interrupts the file holds an uninterrupted run's
rows.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from r1jax import metrics as metrics_lib

FILE = "samples.jsonl"


def rows(step: int, examples: Sequence[Mapping[str, Any]],
         texts: Sequence[str], x: Mapping[str, Any], group: int, count: int,
         truncated_reward: float | None = None) -> list[dict[str, Any]]:
  """Rows of the first completion of each of the first `count` prompts.

  Args:
    step: the step the rows belong to (as in metrics.jsonl).
    examples: the rollout's prompts ({"prompt", "answer"}), P of them.
    texts: the decoded completions, B = P x `group`, prompt-major.
    x: host arrays of the rollout, per row: `length`, `truncated`,
      `reward` (total) and `rewards` ({name: values}).
    group: completions per prompt (G).
    count: rows to write (at most P).
    truncated_reward: config.rl.truncated_reward (replaces the total of
      truncated rows, as the learner does), or None.
  """
  total = np.asarray(x["reward"], np.float32)
  truncated = np.asarray(x["truncated"], bool)
  if truncated_reward is not None:
    total = np.where(truncated, np.float32(truncated_reward), total)
  out = []
  for p in range(min(count, len(examples))):
    i = p * group
    e = examples[p]
    out.append({
        "step": int(step), "prompt": e["prompt"],
        "reference": e.get("answer"), "completion": texts[i],
        "rewards": {k: _num(v[i]) for k, v in sorted(x["rewards"].items())},
        "reward": _num(total[i]),
        "group_rewards": [_num(r) for r in total[i:i + group]],
        "length": int(x["length"][i]), "truncated": bool(truncated[i])})
  return out


def _num(v) -> float | None:
  """JSON number; None for NaN and infinities (JSON has none)."""
  v = float(v)
  return v if np.isfinite(v) else None


class Writer:
  """Appends sample rows to `<workdir>/samples.jsonl` (process 0).

  `start(step)` must come first: the step the run starts (or resumes) at.
  """

  def __init__(self, workdir: str, is_chief: bool | None = None):
    self.path = os.path.join(workdir, FILE)
    self.is_chief = (jax.process_index() == 0 if is_chief is None
                     else is_chief)
    self.started = False

  def start(self, step: int) -> None:
    if self.is_chief:
      metrics_lib.truncate_rows(self.path, step)
    self.started = True

  def write(self, sample_rows: Sequence[Mapping[str, Any]]) -> None:
    if not self.started:
      raise RuntimeError("samples.Writer.write before start(step)")
    if not self.is_chief or not sample_rows:
      return
    # Opened per write: another writer may have replaced the file (the
    # loop's metrics.Writer truncates it the same way when it starts).
    with open(self.path, "a", encoding="utf-8") as f:
      f.writelines(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n"
                   for r in sample_rows)
