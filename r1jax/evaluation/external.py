"""Scoring completions made elsewhere (vLLM, another harness) exactly as the
`eval` stage scores its own: the same extraction, checks and metrics.

The file is JSONL; each line names its problem by `id` (the benchmark's
record id, e.g. MATH-500's unique_id) or by its question text (`problem`,
`question` or `prompt`: the benchmark's question, with or without the
evaluation suffix), and carries either
  "completions": [str | {"text", "num_tokens"?, "finish_reason"?}, ...]
(r1jax's generate stage writes this) or one sample per line as
"completion" / "text" (with optional "num_tokens", "finish_reason").
Every problem of the benchmark needs the same number n of samples. Lengths
are `num_tokens` when given, else counted with the tokenizer when there is
one; `finish_reason: "length"` marks a truncated sample.
"""

from __future__ import annotations

from typing import Any, Sequence

from absl import logging

from r1jax.data import jsonl
from r1jax.evaluation import evaluators, runner, scoring

_QUESTION_FIELDS = ("problem", "question", "prompt")
_SINGLE_FIELDS = ("completion", "text")


def _samples(row: dict, where: str) -> list[dict]:
  if "completions" in row:
    comps = row["completions"]
    if not isinstance(comps, list):
      raise ValueError(f"{where}: 'completions' must be a list")
  else:
    field = next((f for f in _SINGLE_FIELDS if f in row), None)
    if field is None:
      raise ValueError(f"{where}: no 'completions' list nor one of "
                       f"{_SINGLE_FIELDS}")
    comps = [{k: row[k] for k in ("num_tokens", "finish_reason") if k in row}
             | {"text": row[field]}]
  out = []
  for c in comps:
    c = {"text": c} if isinstance(c, str) else c
    if not isinstance(c, dict) or not isinstance(c.get("text"), str):
      raise ValueError(f"{where}: a completion is neither a string nor "
                       "{'text': ...}")
    out.append(c)
  return out


def read(path: str, examples: Sequence[dict],
         suffix: str = "") -> list[list[dict]]:
  """The samples of each problem, in the benchmark's order."""
  by_id = {str(e["id"]): i for i, e in enumerate(examples)}
  by_text = {}
  for i, e in enumerate(examples):
    q = e["prompt"].strip()
    by_text.setdefault(q, i)
    if suffix:
      by_text.setdefault((q + "\n" + suffix).strip(), i)
  found: list[list[dict]] = [[] for _ in examples]
  for k, row in enumerate(jsonl.read_jsonl(path), 1):
    where = f"{path} line {k}"
    i = by_id.get(str(row["id"])) if "id" in row else None
    if i is None:
      text = next((row[f] for f in _QUESTION_FIELDS
                   if isinstance(row.get(f), str)), None)
      i = by_text.get(text.strip()) if text is not None else None
    if i is None:
      raise ValueError(f"{where}: matches no problem of the benchmark (by "
                       f"'id' or by one of {_QUESTION_FIELDS})")
    found[i].extend(_samples(row, where))
  counts = sorted({len(s) for s in found})
  if counts[0] == 0:
    missing = [examples[i]["id"] for i, s in enumerate(found) if not s]
    raise ValueError(f"{path}: {len(missing)} of {len(examples)} problems "
                     f"have no completion (first: {missing[0]!r})")
  if len(counts) > 1:
    raise ValueError(f"{path}: problems have different sample counts "
                     f"{counts}; pass@1 over n needs the same n for all")
  return found


def score_file(path: str, name: str, e, examples: Sequence[dict], tok,
               timeout_s: float) -> tuple[list[dict], dict, dict[str, Any]]:
  """(records, metrics, settings) of evaluator `name` (config block `e`)
  from the completions in `path`."""
  suffix = evaluators.question_suffix(e)
  found = read(path, examples, suffix)
  n = len(found[0])
  if e.think_opened == "auto":
    if tok is None:
      logging.warning("eval %s: no tokenizer to render the template with; "
                      "assuming the prompts did not open <think> (set "
                      "config.evals.%s.think_opened)", name, name)
      think = False
    else:
      think = evaluators.prompter(e, tok).think_opened
  else:
    think = e.think_opened == "true"
  texts = [[s["text"] for s in samples] for samples in found]
  scores = scoring.score(examples, texts, think, timeout_s=timeout_s)
  records, lengths_known = [], True
  for p, (ex, samples, row) in enumerate(zip(examples, found, scores)):
    for j, (s, sc) in enumerate(zip(samples, row)):
      if "num_tokens" in s:
        length = int(s["num_tokens"])
      elif tok is not None:
        length = len(tok.encode(s["text"]))
      else:
        length, lengths_known = 0, False
      records.append(runner.record(
          name, ex, p, j, s["text"], length,
          s.get("finish_reason") == "length", sc))
  m = runner.metrics(examples, n, records, timeout_s)
  if not lengths_known:
    m = {k: v for k, v in m.items() if not k.startswith("length")}
  settings = {"benchmark": e.benchmark, "n": n, "num_problems": len(examples),
              "completions_file": path, "think_opened": think,
              "question_suffix": suffix}
  return records, m, settings
