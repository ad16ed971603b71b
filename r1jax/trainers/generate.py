"""The `generate` stage: rejection sampling into SFT data.

k completions per prompt (configs/generate.py), sampled by the eval runner
(per-sample keys, so 1 process and N, an interrupted run and an
uninterrupted one give the same samples; per-process shards in
`workdir/shards/`, resumed batch by batch; a progress line per batch),
scored by the eval scorer (the final section's answer against the
reference, or against the majority answer when a prompt has none) and the
reward registry, then filtered by the chain of `config.filters`
(r1jax/rejection), at most `config.max_per_prompt` kept per prompt.
Process 0 writes, each file whole and atomically:
  generations.jsonl   every sample: prompt, completion, answer, reference,
                      correct, rewards, length, `rejected_by` (null: kept)
  sft.jsonl           kept samples as {prompt, completion} for the target
                      template (config.target); `sft` reads it unchanged
  filter_report.json  counts per filter, acceptance by prompt difficulty
  filter_report.md    the same as tables
Everything after sampling is a pure function of the shards, so a rerun
rewrites the same files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from r1jax import runinfo
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import benchmarks, templates
from r1jax.evaluation import evaluators, external, passk, runner, scoring
from r1jax.rejection import chain as chain_lib
from r1jax.rejection import filters as filters_lib
from r1jax.rejection import judge_filter
from r1jax.rejection import report as report_lib
from r1jax.rejection import traces
from r1jax.rewards import registry as reward_registry
from r1jax.rewards import total as reward_total
from r1jax.trainers import common
from r1jax.trainers import evaluate as eval_stage
from r1jax.trainers import judge_model
from r1jax.trainers import run_files

NAME = "generate"
SELECT_RANDOM, SELECT_TOTAL = "random", "total"


def validate(c) -> None:
  """Fails before anything loads or compiles, naming the field."""
  samples = evaluators.validate("config.prompts", c.prompts,
                                c.prompts.completions_file)
  if samples:
    common.validate_model(c)
    common.validate_mesh(c, c.batch_rows, "batch_rows")
  reward_total.validate(c.rewards)
  for name in c.reward_report:
    if name not in reward_registry.names():
      raise ValueError(f"config.reward_report: unknown reward {name!r}; "
                       f"allowed: {reward_registry.names()}")
  chain_lib.validate(tuple(c.filters), c.filter_options.to_dict())
  if "decontaminate" in c.filters and not c.decontaminate:
    raise ValueError(
        "config.decontaminate: the `decontaminate` filter needs benchmark "
        "files, e.g. --config.decontaminate.math500=/data/MATH-500/test.jsonl"
        " (or remove it from config.filters)")
  if "judge" in c.filters:
    judge_model.validate(c.judge, "config.judge")
    common.validate_mesh(c, c.judge.batch_rows, "judge.batch_rows")
  for name, path in c.decontaminate.items():
    if name not in benchmarks.BENCHMARKS:
      raise ValueError(f"config.decontaminate.{name}: unknown benchmark; "
                       f"known: {sorted(benchmarks.BENCHMARKS)}")
    if not os.path.exists(path):
      raise ValueError(f"config.decontaminate.{name}={path!r}: not found")
  if c.max_per_prompt < 0:
    raise ValueError(f"config.max_per_prompt={c.max_per_prompt}: >= 0")
  allowed = [SELECT_RANDOM, SELECT_TOTAL, "correct", *reward_registry.names()]
  if c.select_by not in allowed:
    raise ValueError(f"config.select_by={c.select_by!r}; allowed: {allowed}")
  if not 0.0 <= c.majority_min_fraction <= 1.0:
    raise ValueError(f"config.majority_min_fraction="
                     f"{c.majority_min_fraction}: in [0, 1]")
  t = c.target
  if t.template and t.template not in templates.TEMPLATES:
    raise ValueError(f"config.target.template={t.template!r}; allowed: '' "
                     f"(the generation's) or {templates.TEMPLATES}")
  if t.tokenizer and not os.path.exists(t.tokenizer):
    raise ValueError(f"config.target.tokenizer={t.tokenizer!r}: not found")
  if samples:
    common.validate_init_from(c)  # last: a pipeline's hand-off


def _corpus(e):
  """Text for a tokenizer trained in the workdir (random demo model)."""
  def corpus():
    exs = evaluators.load_examples(e, "config.prompts")
    text = [templates.render(e.template, x["prompt"]) for x in exs]
    text += [f"<think> {x['prompt']} </think> <answer> {x['answer']} "
             "</answer>" for x in exs]
    return text * 4
  return corpus


def _model(c, tok) -> runner.Model:
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  rules = common.rules(c)
  if not (c.init_from or c.model.hf_dir):
    logging.warning("config.init_from is empty: sampling a RANDOM %r model "
                    "(a demo of the path; nothing it writes is correct)",
                    c.model.preset)
  cfg, params = common.model(c, mesh, rules, tok.vocab_size, c.seed)
  dtype = common.DTYPES.get(c.cache_dtype) if c.cache_dtype else None
  return runner.Model(params=params, cfg=cfg, tok=tok, mesh=mesh,
                      rules=rules, cache_dtype=dtype, label=c.init_from)


def _majority(examples, records, n: int, min_fraction: float,
              timeout_s: float) -> None:
  """For prompts without a reference: the majority answer (math-verify
  groups) becomes the reference when at least `min_fraction` of the n
  samples agree; `correct` is membership of that group. In place."""
  todo = [p for p, ex in enumerate(examples) if ex.get("answer") is None]
  for p in range(len(examples)):
    for r in records[p * n:(p + 1) * n]:
      r["reference"] = examples[p].get("answer")
      r["reference_source"] = "given" if p not in todo else "none"
  if not todo:
    return
  answers = [[r["answer"] for r in records[p * n:(p + 1) * n]] for p in todo]
  kind = scoring.kind(examples[todo[0]])
  groups = scoring.answer_groups_batch(answers, kind, timeout_s=timeout_s)
  for p, groups_N in zip(todo, groups):
    voted, first = passk.majority_vote(
        [None if g is None else str(g) for g in groups_N])
    rows = records[p * n:(p + 1) * n]
    agree = sum(g is not None and str(g) == voted for g in groups_N)
    ok = voted is not None and agree >= min_fraction * n
    for r, g in zip(rows, groups_N):
      r["correct"] = bool(ok and g is not None and str(g) == voted)
      if ok:
        r["reference"] = rows[first]["answer"]
        r["reference_source"] = "majority"


def _rewards(c, examples, records, n: int, think_opened: bool) -> None:
  """Registry rewards of every sample, their weighted sum as `total` and
  the scorer's correctness as `correct`, in `record["rewards"]`. In
  place."""
  exs = [dict(examples[p], answer=records[p * n]["reference"] or "")
         for p in range(len(examples)) for _ in range(n)]
  batch = reward_registry.RewardBatch(
      completions=[r["completion"] for r in records], examples=exs,
      lengths_B=np.array([r["length"] for r in records]),
      truncated_B=np.array([r["truncated"] for r in records]))
  options = reward_total.with_template(c.reward_options.to_dict(),
                                       think_opened)
  results = reward_total.reward_results(batch, c.rewards, options,
                                        tuple(c.reward_report))
  total, _ = reward_total.summarize(results, c.rewards, len(batch))
  for i, r in enumerate(records):
    r["rewards"] = {"correct": float(r["correct"]),
                    **{k: float(v.values_B[i]) for k, v in results.items()},
                    "total": float(total[i])}


def _decontamination_index(c):
  opts = c.filter_options.to_dict().get("decontaminate", {})
  n = opts.get("ngram",
               filters_lib.default_options("decontaminate")["ngram"])
  texts = [r["prompt"] for name, path in c.decontaminate.items()
           for r in benchmarks.load(name, path)]
  logging.info("decontamination: %d benchmark problems (%s), %d-grams",
               len(texts), ", ".join(c.decontaminate), n)
  return filters_lib.ngram_index(texts, n)


def _atomic_write(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _jsonl(rows) -> str:
  return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _target_prompter(c, tok, e) -> templates.Prompter:
  """How sft.jsonl renders prompts: config.target, unset fields from the
  generation's prompts block."""
  t = c.target
  target_tok = tok_lib.load(t.tokenizer) if t.tokenizer else tok
  block = ml_collections.ConfigDict(dict(
      template=t.template or e.template, system_prompt=t.system_prompt,
      prefill=t.prefill))
  try:
    return evaluators.prompter(block, target_tok)
  except ValueError as err:
    raise ValueError(f"config.target: {err}") from err


def _sft_rows(samples, protocol: runner.Protocol,
              target: templates.Prompter) -> tuple[list[dict], int]:
  """(sft rows of the kept samples, samples the target cannot continue)."""
  out, bad = [], 0
  by_id = {ex["id"]: ex for ex in protocol.examples}
  for s in samples:
    if s["rejected_by"] is not None:
      continue
    comp = traces.for_target(traces.trace(s["text"], protocol.prompter),
                             target)
    if comp is None:
      s["rejected_by"] = "target_prefix"
      bad += 1
      continue
    out.append({"prompt": target.render(protocol.question(by_id[s["id"]])),
                "completion": comp, "id": s["id"], "sample": s["sample"]})
  return out, bad


def _judge(c, tok) -> judge_model.Judge | None:
  """The `judge` filter's model (config.judge), on every process; None
  when the chain has no judge."""
  if "judge" not in c.filters:
    return None
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  return judge_model.load(c.judge, mesh, common.rules(c), tok,
                          default_dtype=c.model.dtype)


def _postprocess(c, workdir, protocol: runner.Protocol, records,
                 tok, judge: judge_model.Judge | None = None
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Process 0: scores, filters, selection and the output files; returns
  (the filter report, the chain's counts: total, kept, rejected)."""
  ex, n = protocol.examples, protocol.n
  think = protocol.prompter.think_opened
  _majority(ex, records, n, c.majority_min_fraction, c.math_timeout_s)
  _rewards(c, ex, records, n, think)
  for r in records:
    r.pop("eval", None)
    r["prompt"] = ex[r["problem"]]["prompt"]
  extra = ({"decontaminate": {"index": _decontamination_index(c)}}
           if "decontaminate" in c.filters else {})
  if judge is not None:
    extra["judge"] = {"judge": judge}
  samples, counts = chain_lib.apply(records, tuple(c.filters),
                                    c.filter_options.to_dict(),
                                    think_opened=think, extra=extra)
  samples = chain_lib.select(samples, c.max_per_prompt, by=c.select_by,
                            seed=c.seed)
  counts = chain_lib.add_selection(counts, samples)
  target = _target_prompter(c, tok, c.prompts)
  sft_rows, bad = _sft_rows(samples, protocol, target)
  counts["rejected"]["target_prefix"] = bad
  counts["kept"] -= bad
  rep = report_lib.filter_report(samples, counts, n)
  if judge is not None:
    # Rejected for want of a verdict, apart from the judge's "incorrect".
    rep["judge"] = judge_filter.summary(samples)
    print(f"judge {judge.label}: {rep['judge']}")
  rep["settings"] = {**protocol.settings(), "model": c.init_from,
                     "filters": list(c.filters),
                     "max_per_prompt": c.max_per_prompt,
                     "select_by": c.select_by,
                     "target_template": target.name,
                     "target_prefill": target.prefill,
                     "code_version": runinfo.code_version()}
  _atomic_write(os.path.join(workdir, "generations.jsonl"), _jsonl(samples))
  _atomic_write(os.path.join(workdir, "sft.jsonl"), _jsonl(sft_rows))
  _atomic_write(os.path.join(workdir, "filter_report.json"),
                json.dumps(rep, indent=2, sort_keys=True))
  table = report_lib.markdown(rep)
  _atomic_write(os.path.join(workdir, "filter_report.md"), table)
  print(table)
  print(f"kept {len(sft_rows)} of {len(samples)} samples "
        f"({len(ex)} prompts x {n}) -> {os.path.join(workdir, 'sft.jsonl')}")
  return rep, counts


class NothingKeptError(RuntimeError):
  """Every sample was rejected: an empty sft.jsonl would train on nothing."""


def nothing_kept_message(counts, workdir: str) -> str:
  """Which filters rejected the samples, largest first, and where to look."""
  rejected = sorted(((v, k) for k, v in counts["rejected"].items() if v),
                    reverse=True)
  why = ", ".join(f"{k} {v}" for v, k in rejected) or "none"
  return (f"generate kept 0 of {counts['total']} samples (rejected by: "
          f"{why}); the filter report is in "
          f"{os.path.join(workdir, 'filter_report.md')}. Loosen "
          "config.filters / config.filter_options, sample more "
          "(config.prompts.n) or start from a stronger model.")


def run(c, workdir: str) -> str:
  """Runs the stage; returns the path of sft.jsonl."""
  validate(c)
  os.makedirs(workdir, exist_ok=True)
  run_files.write_config(c, workdir)
  e = c.prompts
  tok = common.tokenizer(c, workdir, _corpus(e))
  examples = evaluators.load_examples(e, "config.prompts")
  p = evaluators.protocol("config.prompts", NAME, e, tok, examples,
                          batch_rows=c.batch_rows, seed=c.seed,
                          timeout_s=c.math_timeout_s)
  out = os.path.join(workdir, "sft.jsonl")
  if "judge" in c.filters:  # a wrong judge fails before the sampling
    judge_model.tokenizer(c.judge, tok)
  if not e.completions_file:
    model = _model(c, tok)
    ids = runner.prompt_ids(p, tok)
    eval_stage.check_budget("config.prompts", model, p, max(map(len, ids)))
    shards = os.path.join(workdir, "shards")
    runner.generate(model, p, shards, ids=ids)
    del model  # the judge, if any, takes its place in memory
  judge = _judge(c, tok)
  counts = None
  if jax.process_index() != 0:
    if judge is not None:
      judge.serve()  # join process 0's judge calls
  else:
    try:
      if e.completions_file:
        records, _, _ = external.score_file(e.completions_file, NAME, e,
                                            examples, tok, c.math_timeout_s)
        p = dataclasses.replace(p, n=len(records) // len(examples))
      else:
        records = runner.merge(NAME, examples, p.n,
                               runner.read_records(shards))
      _, counts = _postprocess(c, workdir, p, records, tok, judge)
    finally:
      if judge is not None:
        judge.stop()
  # Process 0 filtered; every process learns whether anything was kept, so
  # all of them stop here (not process 0 alone, the others going on).
  kept = int(multihost_utils.broadcast_one_to_all(
      np.int32(counts["kept"] if counts else 0)))
  if not kept:
    raise NothingKeptError(
        nothing_kept_message(counts, workdir) if counts else
        "generate kept 0 samples (process 0's error names the filters)")
  return out
