"""The `r1_zero_demo` stage: pretrain a tiny base, R1-Zero GRPO, report.

  python -m r1jax.main --config=configs/r1_zero_demo.py --workdir=/tmp/demo

WORKDIR/base  the pretrained base model (skipped when its final checkpoint
              exists, so a second run reuses it)
WORKDIR/rl    the GRPO run from WORKDIR/base (metrics.jsonl, samples.jsonl)
WORKDIR/results.json and WORKDIR/*.png: held-out pass@1 / cons@k before and
              after RL, format rate, timings, the resolved config, the
              code version, and the curves.

A rerun reuses the base and continues the RL run only if they were made
with the same values of the fields that change results (r1jax/runinfo.py);
otherwise it stops before running anything, naming the fields: use a new
--workdir (copy WORKDIR/base into it to keep the base), or
--config.resume=force.
"""

from __future__ import annotations

import json
import os
import time

import ml_collections
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import metrics as metrics_lib
from r1jax import runinfo
from r1jax import tokenizers as tok_lib
from r1jax.trainers import common, grpo, sft

# (file, title, metric names) of the PNG curves written into the workdir.
PLOTS = (
    ("heldout.png", "held-out accuracy (T=0.6)",
     ("eval/pass@1", "eval/cons@k", "eval/format")),
    ("rewards.png", "training reward per function",
     ("reward/accuracy", "reward/format", "reward/total")),
    ("length.png", "response length (tokens)",
     ("length/mean", "eval/length_mean")),
    ("reflection.png", "reflective words per response",
     ("reflection/frac_any", "reflection/words_mean",
      "eval/reflection/words_mean")),
)


def sub_configs(c):
  """(pretrain, grpo) configs with references resolved, unlocked."""
  pre, rl = (c.pretrain.copy_and_resolve_references(),
             c.grpo.copy_and_resolve_references())
  # The tokenizer trained into WORKDIR/base is part of what the base is
  # (its fingerprint); sft.run ignores this field.
  with pre.unlocked():
    pre.demo_tokenizer = ml_collections.ConfigDict(c.tokenizer.to_dict())
  if runinfo.resume_mode(c) == "force":
    pre.resume = rl.resume = "force"
  return pre, rl


def validate(c) -> None:
  runinfo.resume_mode(c)
  pre, rl = sub_configs(c)
  if pre.stage not in ("pretrain", "sft") or rl.stage != "grpo":
    raise ValueError("config.pretrain.stage must be pretrain and "
                     "config.grpo.stage grpo")
  sft.validate(pre)
  rl.init_from = ""  # WORKDIR/base, which does not exist yet.
  grpo.validate(rl)


def _pretrained(base: str, steps: int) -> bool:
  return (os.path.isfile(os.path.join(base, ckpt_lib.MODEL_CONFIG))
          and common.saved_final_step(base, steps))


def _train_tokenizer(c, pre, base: str) -> None:
  """WORKDIR/base/tokenizer.model from the corpus, with demo options."""
  if os.path.exists(os.path.join(base, "tokenizer.model")):
    return
  records, _ = sft._records(pre)  # pylint: disable=protected-access
  texts = [r["text"] for r in records[:20000]]
  t = c.tokenizer
  tok_lib.train_sentencepiece(
      texts, os.path.join(base, "tokenizer"), vocab_size=t.vocab_size,
      split_by_whitespace=t.split_by_whitespace,
      split_by_unicode_script=t.split_by_unicode_script,
      max_sentencepiece_length=t.max_sentencepiece_length)


def _last_by_step(series) -> dict[int, float]:
  steps, values = series
  return {int(s): float(v) for s, v in zip(steps, values)}


def results(c, rl_dir: str, times: dict, cached: bool) -> dict:
  """results.json: before/after held-out metrics from the GRPO run."""
  m = metrics_lib.read_metrics(os.path.join(rl_dir, metrics_lib.METRICS))
  out = {"seed": int(c.seed), "base_cached": cached}

  def ends(name):
    if name not in m:
      return None, None
    by_step = _last_by_step(m[name])
    return by_step[min(by_step)], by_step[max(by_step)]

  for key, name in (("heldout_accuracy", "eval/pass@1"),
                    ("heldout_accuracy_stderr", "eval/pass@1_stderr"),
                    ("heldout_cons", "eval/cons@k"),
                    ("heldout_format", "eval/format"),
                    ("heldout_length", "eval/length_mean"),
                    ("heldout_length_stderr", "eval/length_mean_stderr"),
                    ("heldout_reflective_words", "eval/reflection/words_mean"),
                    ("heldout_reflective_words_stderr",
                     "eval/reflection/words_mean_stderr"),
                    ("heldout_reflective_frac", "eval/reflection/frac_any")):
    before, after = ends(name)
    out[f"base_{key}"], out[f"final_{key}"] = before, after
  if out["base_heldout_accuracy"] is not None:
    out["accuracy_gain"] = (out["final_heldout_accuracy"]
                            - out["base_heldout_accuracy"])
  for key in ("length", "reflective_words"):
    before, after = out[f"base_heldout_{key}"], out[f"final_heldout_{key}"]
    if before and after is not None:  # final / base, on held-out answers
      out[f"{key}_growth"] = after / before
  g = c.grpo
  out["heldout_prompts"] = int(g.eval.num_prompts)
  out["k"] = int(g.eval.k)
  out["rl_steps"] = int(g.steps)
  out["pretrain_steps"] = int(c.pretrain.steps)
  # Training curves: means over the first and the last few steps.
  out["train_first_last"] = {}
  for name in ("reward/accuracy", "reward/format", "length/mean",
               "reflection/frac_any", "reflection/words_mean",
               "reflection/advantage"):
    if name in m:
      v = m[name][1]
      n = max(1, min(5, len(v) // 4))
      out["train_first_last"][name] = {
          "steps": n, "first": float(np.nanmean(v[:n])),
          "last": float(np.nanmean(v[-n:]))}
  out["wall_time_s"] = times
  return out


def plots(workdir: str, rl_dir: str) -> list[str]:
  path = os.path.join(rl_dir, metrics_lib.METRICS)
  out = [metrics_lib.plot_curves(path, os.path.join(workdir, f),
                                 [(title, names)])
         for f, title, names in PLOTS]
  out.append(metrics_lib.plot_curves(
      path, os.path.join(workdir, "curves.png"),
      [(title, names) for _, title, names in PLOTS], cols=2))
  return out


def pretrain_base(c, base: str) -> bool:
  """The demo's base model in `base` (its tokenizer trained on the corpus,
  then pretraining), reused when finished; returns whether it was."""
  pre, _ = sub_configs(c)
  if _pretrained(base, pre.steps):
    runinfo.record(pre, base)  # forced changes go into its history.jsonl
    logging.info("reusing the base model in %s", base)
    return True
  os.makedirs(base, exist_ok=True)
  _train_tokenizer(c, pre, base)
  sft.run(pre, base)
  return False


def _interrupted(phase: str) -> dict:
  """A SIGTERM / Ctrl-C during `phase`: stop before the next phase (which
  would start from a half-trained model) and write no results."""
  logging.warning("r1_zero_demo: interrupted during %s; rerun the same "
                  "command to go on", phase)
  return {"interrupted": phase}


def run(c, workdir: str) -> dict:
  validate(c)
  t0 = time.time()
  pre, rl = sub_configs(c)
  base, rl_dir = os.path.join(workdir, "base"), os.path.join(workdir, "rl")
  rl.init_from = base
  # Before anything runs: the cached base and the RL run in the workdir
  # must have been made with these values (or config.resume=force).
  keep = _pretrained(base, pre.steps) and not runinfo.changes(pre, base)
  runinfo.check([(pre, base, "pretrain."), (rl, rl_dir, "grpo.")],
                hint=(f"copy {base} into it to keep the pretrained base "
                      "model" if keep else ""))
  common.write_config(c, workdir)
  times = {}

  # 1. BASE MODEL (cached).
  ckpt_lib.take_interrupt()
  cached = pretrain_base(c, base)
  times["pretrain"] = time.time() - t0
  if ckpt_lib.take_interrupt()[1]:
    return _interrupted("pretraining")

  # 2. R1-ZERO GRPO from it (held-out eval at step 0 and at the end).
  t1 = time.time()
  grpo.run(rl, rl_dir)
  times["grpo"] = time.time() - t1
  if ckpt_lib.take_interrupt()[0]:
    return _interrupted("GRPO")

  # 3. RESULTS AND CURVES.
  t2 = time.time()
  png = plots(workdir, rl_dir)
  times["report"] = time.time() - t2
  times["total"] = time.time() - t0
  out = results(c, rl_dir, times, cached)
  out["plots"] = [os.path.basename(p) for p in png]
  out.update(runinfo.summary(c, workdir))
  forced = {k: runinfo.history(d) for k, d in (("base", base),
                                                ("rl", rl_dir))}
  if any(forced.values()):
    out["resume_history"] = forced
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(out, f, indent=2)
  logging.info("results: %s", json.dumps(
      {k: v for k, v in out.items() if k != "config"}, indent=2))
  return out
