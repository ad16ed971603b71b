"""Evaluators chosen by name from config: `config.evals.<name>` blocks
(configs/eval.py `eval_block`) -> checked fields, problems, and the runner's
`Protocol`. The eval stage and the SFT trainer's held-out evaluation both
read their evaluators through here.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging

from r1jax.data import benchmarks, prompt_files, tasks, templates
from r1jax.evaluation import runner
from r1jax.sampling import Sampling
from r1jax.trainers import common

THINK_OPENED = ("auto", "true", "false")
# Templates that append the maths suffix themselves.
_MATH_TEMPLATES = ("chat_math", "r1_chat_math")


# `benchmark=file`: problems from a prompts file (data/prompt_files.py).
FILE = "file"


def _kind(benchmark: str) -> str:
  if tasks.is_task(benchmark):
    return "task"
  if benchmark == FILE:
    return FILE
  if benchmark in benchmarks.BENCHMARKS:
    return "benchmark"
  raise ValueError(f"unknown benchmark {benchmark!r}; known: "
                   f"{sorted(benchmarks.BENCHMARKS)}, the synthetic tasks "
                   f"{tasks.names()} and {FILE!r} (a prompts file)")


def validate(field: str, e, completions_file: str = "") -> bool:
  """Checks evaluator block `e` (config path `field`); returns whether it
  samples (False: it scores `completions_file`)."""
  try:
    kind = _kind(e.benchmark)
  except ValueError as err:
    raise ValueError(f"{field}.benchmark: {err}") from err
  if kind == "benchmark":
    spec = benchmarks.BENCHMARKS[e.benchmark]
    if not spec.scorable:
      raise ValueError(
          f"{field}: {e.benchmark} is loaded but not yet scorable (its "
          "answers are programs; execution-based scoring arrives with the "
          "code-sandbox issue). Evaluate the other benchmarks.")
    if not e.file and e.benchmark not in benchmarks.BUNDLED:
      raise ValueError(f"{field}.file: the {e.benchmark} file is required "
                       f"({spec.source}; README 'Evaluate')")
    if e.file and not os.path.exists(e.file):
      raise ValueError(f"{field}.file={e.file!r}: file not found")
  if kind == FILE and not (e.file and os.path.exists(e.file)):
    raise ValueError(f"{field}.file={e.file!r}: a prompts file (JSONL, "
                     "JSON, CSV or Parquet) is required with benchmark=file"
                     + (": file not found" if e.file else ""))
  if e.get("continuous_batching", 0) < 0:
    raise ValueError(f"{field}.continuous_batching="
                     f"{e.continuous_batching}: must be >= 0 (0: static "
                     "batches; N: samples queued per sampler call)")
  if e.n < 1 or e.max_new_tokens < 1 or e.limit < 0:
    raise ValueError(f"{field}: n and max_new_tokens must be >= 1, limit "
                     ">= 0")
  if e.template not in templates.TEMPLATES:
    raise ValueError(f"{field}.template={e.template!r}; allowed: "
                     f"{templates.TEMPLATES}")
  if e.think_opened not in THINK_OPENED:
    raise ValueError(f"{field}.think_opened={e.think_opened!r}; allowed: "
                     f"{THINK_OPENED}")
  if completions_file:
    if not os.path.exists(completions_file):
      raise ValueError(f"{field}.completions_file={completions_file!r}: "
                       "file not found")
    return False
  try:
    Sampling(temperature=e.temperature, top_p=e.top_p, top_k=e.top_k)
  except ValueError as err:
    raise ValueError(f"{field}: {err}") from err
  if e.temperature <= 0:
    logging.warning("%s.temperature=0: greedy decoding, all n samples are "
                    "the same; the paper samples at 0.6", field)
  return True


def load_examples(e, where: str = "config.evals.<name>"
                  ) -> list[dict[str, Any]]:
  """The evaluator's problems (the first `limit` when set); `where`: the
  block's config path, for errors."""
  kw = dict(e.loader_kwargs)
  if tasks.is_task(e.benchmark):
    exs = tasks.get(e.benchmark, **kw).examples(e.task_seed, 0, e.task_count)
  elif e.benchmark == FILE:
    exs = prompt_files.load(e.file, **kw, where=where)
  else:
    exs = benchmarks.load(e.benchmark, e.file or None, **kw)
  return exs[:e.limit] if e.limit else exs


def question_suffix(e) -> str:
  """`question_suffix=auto`: the benchmark's own (maths: the paper's "Please
  reason step by step..."), none for synthetic tasks and for templates that
  add it themselves."""
  if e.question_suffix != "auto":
    return e.question_suffix
  if (tasks.is_task(e.benchmark) or e.benchmark == FILE
      or e.template in _MATH_TEMPLATES):
    return ""
  return benchmarks.BENCHMARKS[e.benchmark].question_suffix


def resolve_prefill(e, tok) -> str:
  """`prefill=auto`: "<think>\\n" for R1-style chat templates (they handle
  </think>) unless the template already opens <think>; else ""."""
  if e.prefill != "auto":
    return e.prefill
  if e.template not in templates.CHAT:
    return ""
  plain = templates.make_prompter(e.template, tok, system=e.system_prompt)
  source = getattr(getattr(tok, "chat_template", None), "template", "") or ""
  if plain.think_opened or "</think>" not in source:
    return ""
  return templates.THINK_PREFIX


def prompter(e, tok) -> templates.Prompter:
  return templates.make_prompter(e.template, tok, system=e.system_prompt,
                                 prefill=resolve_prefill(e, tok))


def protocol(field: str, name: str, e, tok, examples, *, batch_rows: int,
             seed: int, timeout_s: float) -> runner.Protocol:
  """The runner's plain values for evaluator `name` (block `e` at config
  path `field`)."""
  return runner.Protocol(
      name=name, benchmark=e.benchmark, examples=examples, n=e.n,
      prompter=prompter(e, tok),
      sampling=Sampling(temperature=e.temperature, top_p=e.top_p,
                        top_k=e.top_k),
      max_new_tokens=e.max_new_tokens, batch_rows=batch_rows,
      continuous=int(e.get("continuous_batching", 0)),
      stop_ids=common.stop_ids(tok, e.stop_tokens,
                               f"{field.removeprefix('config.')}.stop_tokens"),
      question_suffix=question_suffix(e), seed=seed, timeout_s=timeout_s)


def trainer_protocols(c, tok) -> list[runner.Protocol]:
  """A trainer's evaluators (`config.evals`, sampled with `config.eval`'s
  batch_rows and seed c.seed + 1, the held-out seed)."""
  return [protocol(f"config.evals.{name}", name, e, tok,
                   load_examples(e, f"config.evals.{name}"),
                   batch_rows=c.eval.batch_rows, seed=c.seed + 1,
                   timeout_s=c.eval.math_timeout_s)
          for name, e in c.get("evals", {}).items()]


def run_all(model: runner.Model,
            protocols: list[runner.Protocol]) -> dict[str, float]:
  """`eval/<name>/<metric>` of each protocol (every process)."""
  out = {}
  for p in protocols:
    _, m = runner.evaluate(model, p)
    out.update({f"eval/{p.name}/{k}": float(v) for k, v in m.items()
                if isinstance(v, (int, float))})
  return out
