"""The `eval` stage: benchmarks evaluated as the R1 paper does.

For each evaluator in `config.evals` (configs/eval.py): load the benchmark,
sample n completions per problem with `evaluation.runner` (resumable,
sharded over devices and hosts), score them, and write into the workdir
  eval.json      per benchmark: metrics, the settings that produced them,
                 and speed; plus model, template, devices and mesh
  eval.md        the same as a table
  samples.jsonl  one line per sample: eval, id, problem, sample, completion,
                 answer, correct, formatted, status, length, truncated
  evals/<name>/  the per-process shards a rerun resumes from
and a clu/TensorBoard summary. With `completions_file`, completions made
elsewhere are scored instead of sampled (`evaluation.external`).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import jax
import numpy as np
from absl import logging
from clu import metric_writers

from r1jax import runinfo
from r1jax import sharding as shd
from r1jax.data import templates
from r1jax.data.benchmarks import codeforces
from r1jax import sampling as sampling_lib
from r1jax.evaluation import evaluators, external, report, rm_score, runner
from r1jax.rewards import judge
from r1jax.trainers import common
from r1jax.trainers import run_files


def _completions_file(c, e) -> str:
  return e.completions_file or c.completions_file


def validate(c) -> None:
  """Fails before anything loads or compiles, naming the field."""
  if not c.evals:
    raise ValueError("config.evals: no evaluator (configs/eval.py:<names>)")
  if c.completions_file and len(c.evals) != 1:
    raise ValueError(
        f"config.completions_file scores one benchmark, but config.evals has "
        f"{sorted(c.evals)}: name one evaluator, or set "
        "config.evals.<name>.completions_file for each")
  samples = [evaluators.validate(f"config.evals.{name}", e,
                                 _completions_file(c, e))
             for name, e in c.evals.items()]
  if any(samples):
    if not c.init_from:
      raise ValueError("config.init_from: the model to evaluate is required "
                       "(a Hugging Face model directory or an r1jax workdir)")
    common.validate_model(c)
    common.validate_mesh(c, c.batch_rows, "batch_rows")
    common.validate_init_from(c)  # last: a pipeline's hand-off
  _validate_rm(c)


def _validate_rm(c) -> None:
  rm = c.get("reward_model")
  if not rm or not rm.init_from:
    return
  if rm.span not in judge.SPANS:
    raise ValueError(f"config.reward_model.span={rm.span!r}; allowed: "
                     f"{judge.SPANS}")
  unknown = set(rm.evals) - set(c.evals)
  if unknown:
    raise ValueError(f"config.reward_model.evals names {sorted(unknown)}, "
                     f"which are not evaluators; have {sorted(c.evals)}")
  if not rm.init_from.startswith("@") and not os.path.isdir(rm.init_from):
    raise ValueError(f"config.reward_model.init_from={rm.init_from!r}: not "
                     "found (a reward_model workdir or an HF "
                     "*ForSequenceClassification directory)")


def _rm_metrics(c, model: runner.Model, p: runner.Protocol, recs,
                prompt_len: int) -> dict:
  """The reward model's score of this benchmark's samples (every process
  calls; see evaluation/rm_score.py), or {} when it is not configured."""
  rm = c.get("reward_model")
  if not rm or not rm.init_from or (rm.evals and p.name not in rm.evals):
    return {}
  recs = rm_score.gather(recs)
  scores = rm_score.score(rm.init_from, recs, p, model.tok, model.mesh,
                          model.rules, span=rm.span, batch_rows=c.batch_rows,
                          max_len=prompt_len + p.max_new_tokens + 1)
  return rm_score.metrics(recs, scores)


def protocol(c, name: str, e, tok, examples) -> runner.Protocol:
  return evaluators.protocol(f"config.evals.{name}", name, e, tok, examples,
                             batch_rows=c.batch_rows, seed=c.seed,
                             timeout_s=c.math_timeout_s)


def check_budget(field: str, model: runner.Model, p: runner.Protocol,
                 longest_prompt: int) -> None:
  """Prompt + completion budget within the model's context (else an error
  naming the field), and the KV cache it takes, logged."""
  cfg = model.cfg
  slots = sampling_lib.bucket_length(longest_prompt) + p.max_new_tokens
  if longest_prompt + p.max_new_tokens > cfg.max_seq_len:
    raise ValueError(
        f"{field}.max_new_tokens={p.max_new_tokens} + the longest prompt "
        f"({longest_prompt} tokens) exceed the model's context of "
        f"{cfg.max_seq_len} tokens: lower max_new_tokens (or use limit to "
        "drop the longest problems)")
  dtype = model.cache_dtype or cfg.dtype
  per_row = (slots * cfg.num_layers * 2 * cfg.num_kv_heads * cfg.head_dim
             * np.dtype(dtype).itemsize)
  dp = model.mesh.shape["data"] * model.mesh.shape["fsdp"]
  logging.info("%s: KV cache %.2f GB per row (%d slots), %.1f GB per "
               "data-parallel device for batch_rows=%d", field, per_row / 1e9,
               slots, per_row * p.batch_rows / dp / 1e9, p.batch_rows)


def _template_id(p: templates.Prompter) -> dict:
  src = p.chat.template if p.chat is not None else p.name
  return {"template": p.name,
          "template_sha256": hashlib.sha256(src.encode()).hexdigest()[:16]}


def _model_meta(c, cfg, mesh) -> dict:
  return {"model": c.init_from, "model_params": int(cfg.num_params()),
          "dtype": c.model.dtype, "param_dtype": c.model.param_dtype,
          "devices": jax.device_count(), "processes": jax.process_count(),
          "platform": jax.devices()[0].platform,
          "mesh": dict(mesh.shape), "batch_rows": c.batch_rows}


def table_meta(meta: dict, settings: dict) -> dict:
  """The settings line under eval.md's table: the model and mesh, and each
  sampling setting (one value, or 'per benchmark' when they differ)."""
  out = {k: meta[k] for k in ("model", "dtype", "devices", "mesh", "seed")
         if k in meta}
  for k in ("template", "prefill", "temperature", "top_p",
            "max_new_tokens"):
    values = {json.dumps(s.get(k)) for s in settings.values() if k in s}
    if len(values) == 1:
      out[k] = json.loads(values.pop())
      if k == "prefill" and not out[k]:
        out[k] = "none"
    elif values:
      out[k] = "per benchmark (eval.json)"
  return out


def _write_outputs(workdir: str, results: dict, settings: dict,
                   timing: dict, meta: dict, records: list[dict]) -> str:
  """eval.json, eval.md, samples.jsonl and a clu summary; returns the
  table."""
  writer = metric_writers.create_default_writer(workdir)
  writer.write_scalars(0, {f"{name}/{k}": v for name, m in results.items()
                           for k, v in m.items()
                           if isinstance(v, (int, float))})
  writer.close()
  with open(os.path.join(workdir, "eval.json"), "w") as f:
    json.dump({"results": results, "settings": settings, "timing": timing,
               "meta": meta}, f, indent=2, sort_keys=True)
  table = report.markdown(results, table_meta(meta, settings))
  with open(os.path.join(workdir, "eval.md"), "w") as f:
    f.write(table)
  with open(os.path.join(workdir, "samples.jsonl"), "w",
            encoding="utf-8") as f:
    for r in records:
      f.write(json.dumps(r, ensure_ascii=False) + "\n")
  return table


def _tokenizer(c, workdir: str):
  if not (c.tokenizer or c.init_from or c.model.hf_dir):
    return None
  return common.tokenizer(c, workdir)


def run(c, workdir: str) -> dict[str, Any]:
  """Runs every evaluator; returns {name: metrics} (process 0; {} on the
  others)."""
  validate(c)
  os.makedirs(workdir, exist_ok=True)
  run_files.write_config(c, workdir)
  tok = _tokenizer(c, workdir)
  model = None
  results, settings, timing, records = {}, {}, {}, []
  meta = {"code_version": runinfo.code_version(), "seed": c.seed}
  for name, e in c.evals.items():
    examples = evaluators.load_examples(e, f"config.evals.{name}")
    path = _completions_file(c, e)
    if path:
      recs, m, s = external.score_file(path, name, e, examples, tok,
                                        c.math_timeout_s)
      results[name], settings[name], timing[name] = m, s, {}
      records.extend(recs)
      _by_rating(e, examples, recs, m)
      continue
    if model is None:
      model = _load_model(c, tok)
      meta.update(_model_meta(c, model.cfg, model.mesh))
    p = protocol(c, name, e, tok, examples)
    p_ids = runner.prompt_ids(p, tok)
    check_budget(f"config.evals.{name}", model, p, max(map(len, p_ids)))
    speed = {}
    recs, m = runner.evaluate(model, p, os.path.join(workdir, "evals", name),
                              on_batch=speed.update, ids=p_ids)
    m.update(_rm_metrics(c, model, p, recs, max(map(len, p_ids))))
    results[name] = m
    settings[name] = {**p.settings(), **_template_id(p.prompter),
                      "prompt_tokens_max": max(map(len, p_ids)),
                      "stop_ids": list(p.stop_ids)}
    timing[name] = speed
    records.extend(recs)
    _by_rating(e, examples, recs, m)
    if jax.process_index() == 0:
      logging.info("eval %s: pass@1 %.4f +- %.4f over %d problems x %d",
                   name, m["pass@1"], m["pass@1_stderr"], m["num_problems"],
                   m["n"])
  if jax.process_index() != 0:
    return {}
  print(_write_outputs(workdir, results, settings, timing, meta, records))
  return results


def _by_rating(e, examples, recs, m: dict) -> None:
  """Codeforces: pass@1 per rating bucket into the metrics (`by_rating`:
  {bucket: [pass@1, stderr, problems]}; process 0, which has the records)."""
  if e.benchmark != "codeforces" or not recs:
    return
  scores = {}
  for r in recs:
    scores.setdefault(r["problem"], []).append(float(r["correct"]))
  m["by_rating"] = {k: list(v) for k, v in codeforces.pass_at_1_by_rating(
      [(examples[p], s) for p, s in sorted(scores.items())]).items()}


def _load_model(c, tok) -> runner.Model:
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  rules = common.rules(c)
  cfg, params = common.model(c, mesh, rules, tok.vocab_size, c.seed)
  dtype = common.DTYPES.get(c.cache_dtype) if c.cache_dtype else None
  return runner.Model(params=params, cfg=cfg, tok=tok, mesh=mesh, rules=rules,
                      cache_dtype=dtype, label=c.init_from)
