"""A reward model's score of evaluation samples (`config.reward_model` of
the `eval` stage): the number R1 optimises on general prompts, reported
next to pass@1.

Each sample is read as the RL stage's reward model reads a rollout: the
prompt exactly as the evaluated model saw it (its template, rendered and
tokenised the same way), then the response's `span` ('summary': the text
after the last `</think>`, all of it without one; 'full'), then EOS; the
score is normalised by the reward model's own held-out statistics
(reward_stats.json) as the RL reward is. Metrics per benchmark: `rm_score`
(mean over problems of each problem's mean over its samples) and
`rm_score_stderr` (over problems).

Multi-host: every process must call `score` with the same records (the
reward model is one program over the mesh); `gather` puts process 0's
records on every process first.
"""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from r1jax.data import preferences as prefs
from r1jax.evaluation import passk
from r1jax.rewards import judge
from r1jax.trainers import reward_model


def gather(records: list[dict]) -> list[dict]:
  """Process 0's records on every process (the others pass theirs, [])."""
  if jax.process_count() == 1:
    return records
  from r1jax.evaluation import runner  # pylint: disable=g-import-not-at-top
  return runner.gather_records(records if jax.process_index() == 0 else [])


def inputs(records: Sequence[dict], protocol, tok, span: str,
           max_len: int) -> list[dict]:
  """Encoded (prompt as sampled + the response's span + EOS) rows."""
  out = []
  for r in records:
    prompt = protocol.prompter.render(
        protocol.question(protocol.examples[r["problem"]]))
    response = judge.response_span(r["completion"], span)
    ids = prefs.encode_one(tok, prompt, response, max_len=max_len,
                           where=f"sample {r['sample']} of problem "
                           f"{r['problem']}")
    out.append({"response": ids, "label": np.int32(0)})
  return out


def score(path: str, records: Sequence[dict], protocol, tok, mesh, rules, *,
          span: str = "summary", batch_rows: int = 64,
          max_len: int = 4096) -> np.ndarray:
  """float32 [len(records)]: the normalised score of each record, the same
  on every process. `batch_rows` must divide over the mesh's data-parallel
  devices (the eval's batch_rows do)."""
  cfg, params, stats = reward_model.load_reward_model(path, mesh, rules)
  if not records:
    return np.zeros((0,), np.float32)
  data = prefs.Batches(inputs(records, protocol, tok, span, max_len),
                       batch_size=batch_rows, seq_len=max_len,
                       pad_id=tok.pad_id, shuffle=False)
  r = reward_model.make_scorer(cfg, data, mesh, rules)(params)
  if stats:
    r = (r - stats["mean"]) / max(stats["std"], 1e-6)
  return np.asarray(r, np.float32)


def metrics(records: Sequence[dict], scores: np.ndarray) -> dict:
  """{rm_score, rm_score_stderr}: over problems, each its samples' mean."""
  by = {}
  for r, s in zip(records, scores):
    by.setdefault(r["problem"], []).append(float(s))
  mean, se = passk.mean_stderr([np.mean(v) for v in by.values()])
  return {"rm_score": mean, "rm_score_stderr": se}
