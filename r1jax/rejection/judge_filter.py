"""The `judge` filter: keep the samples a generative judge passes.

R1 judged part of its rejection-sampled data with DeepSeek-V3 as a
generative reward model [R1v2 B.3.3]. Here the judge is a frozen model the
stage loads from `config.judge` (r1jax/trainers/judge_model.py) and passes
as the runtime option `judge` (`chain.apply(extra={"judge": {"judge":
j}})`); it sees each sample's question (`prompt`), `reference` and text
(the configured span of it), and writes a verdict or a score.

A sample is kept when its verdict parsed and its value (1 correct / 0
incorrect, or the score in [0, 1]) is at least `threshold`. Samples whose
judge completion holds no verdict, or that have no reference, are rejected
and counted apart (`summary`): a broken judge prompt shows up as many
unparseable verdicts, not as a strict judge. Each judged sample records
`sample["judge"] = {"value", "ok", "completion"}`, so generations.jsonl
shows what the judge wrote (completion None: no reference).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from r1jax.rejection import filters

@filters.register("judge", runtime=("judge",))
def keep_judged(samples: Sequence[Mapping[str, Any]],
                threshold: float = 0.5, judge: Any = None) -> np.ndarray:
  """Keeps samples the judge passes (value >= `threshold`; a verdict is 1
  or 0, so any threshold in (0, 1] keeps exactly the `correct` ones).
  `judge`: an object with `score(questions, references, responses,
  return_text=True)`, e.g. `judge_model.Judge`."""
  if not (isinstance(threshold, (int, float, np.number))
          and not isinstance(threshold, bool) and 0 <= threshold <= 1):
    raise ValueError(f"config.filter_options.judge.threshold={threshold!r}"
                     ": a number in [0, 1]")
  if not samples:
    return np.zeros((0,), bool)
  if judge is None:
    raise ValueError("config.filter_options.judge: no judge model; the "
                     "stage must pass one (judge_model.load(config.judge, "
                     "...)) as extra['judge']['judge']")
  rows = [i for i, s in enumerate(samples)
          if s.get("reference") not in (None, "")]
  values, ok, texts = judge.score(
      [str(samples[i]["prompt"]) for i in rows],
      [str(samples[i]["reference"]) for i in rows],
      [str(samples[i]["text"]) for i in rows], return_text=True)
  keep = np.zeros((len(samples),), bool)
  for s in samples:
    s["judge"] = {"value": None, "ok": False, "completion": None}
  for i, v, good, text in zip(rows, values, ok, texts):
    samples[i]["judge"] = {"value": float(v) if good else None,
                           "ok": bool(good), "completion": text}
    keep[i] = bool(good) and float(v) >= threshold
  return keep


def summary(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """Counts over the samples the judge saw: judged, parsed, unparseable
  (rejected for want of a verdict), no_reference, and the mean value of
  the parsed ones (None if none)."""
  seen = [s["judge"] for s in samples if s.get("judge")]
  no_ref = sum(j["completion"] is None for j in seen)
  parsed = [j["value"] for j in seen if j["ok"]]
  return {"judged": len(seen) - no_ref, "parsed": len(parsed),
          "unparseable": len(seen) - no_ref - len(parsed),
          "no_reference": no_ref,
          "mean_value": float(np.mean(parsed)) if parsed else None}
