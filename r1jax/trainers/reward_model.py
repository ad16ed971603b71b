"""The `reward_model` stage: a scalar-head reward model (models/reward.py)
trained on preference pairs (Bradley-Terry) or labelled responses
(pointwise binary cross-entropy).

  python -m r1jax.main --config=configs/reward_model.py --workdir=/tmp/rm \\
      --config.data.train_file=prefs.jsonl --config.init_from=/ckpt/sft

The model starts from `config.init_from`: a causal LM (r1jax workdir or HF
directory) gets a fresh score head (`reward.from_policy`); a reward model
(a reward_model workdir or an HF `*ForSequenceClassification` directory)
is trained further. Pairs are scored in one forward ([B, 2, S] rows
reshaped to [2B, S], a layout-free reshape of batch-sharded rows). The
held-out split (prompts drawn by hash, data/preferences.py) is scored at
the start, every `eval.every` steps and at the end; a finished run writes
`reward_stats.json` (mean and std of the scores of every held-out
response, for normalising the reward in RL), and with
`checkpoint.export_hf` an HF `*ForSequenceClassification` directory
(workdir/hf, the stats copied beside it). `load_reward_model` reads either.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import runinfo
from r1jax import sharding as shd
from r1jax.data import pipeline
from r1jax.data import preferences as prefs
from r1jax.data import templates
from r1jax.losses import reward as reward_loss
from r1jax.models import hf, presets, reward
from r1jax.models.transformer import ModelConfig
from r1jax.trainers import common, loop
from r1jax.trainers import run_files
from r1jax.trainers import train_state

OBJECTIVES = ("pairwise", "pointwise")
STATS_FILE = "reward_stats.json"
KEYS = ("tokens", "segment_ids", "weight")
# Logical axes of batch arrays: [B, 2, S] pairs; [B, S] and [B] use a prefix.
BATCH_AXES = ("act_batch", None, "act_len")


# STEP


def _scores(params, cfg: ModelConfig, tokens, segment_ids):
  """Rewards of [B, S] rows, or [B, 2] of [B, 2, S] pairs."""
  if tokens.ndim == 2:
    return reward.scores(params, cfg, tokens, segment_ids)
  b, k, s = tokens.shape
  return reward.scores(params, cfg, tokens.reshape(b * k, s),
                       segment_ids.reshape(b * k, s)).reshape(b, k)


def make_train_step(cfg: ModelConfig, tx, *, pairwise: bool,
                    microbatches: int = 1, center_coef: float = 0.0
                    ) -> Callable:
  """step(state, batch) -> (state, metrics). The loss is a weighted mean
  over the batch's real rows (weight 1; fill rows 0), so it does not depend
  on micro-batching or the mesh."""
  extra = ("margin",) if pairwise else ("label",)

  def micro_loss(params, mb, total_w):
    r = _scores(params, cfg, mb["tokens"], mb["segment_ids"])
    if pairwise:
      loss, aux = reward_loss.bradley_terry(r[:, 0], r[:, 1], mb["margin"],
                                            center_coef, mb["weight"])
    else:
      loss, aux = reward_loss.pointwise_bce(r, mb["label"], mb["weight"])
    share = aux.pop("weight") / total_w
    return loss * share, {k: v * share for k, v in aux.items()}

  def step(state, batch):
    total_w = jnp.maximum(batch["weight"].sum(), 1.0)

    def micro(grads, mb):
      (loss, aux), g = jax.value_and_grad(micro_loss, has_aux=True)(
          state["params"], mb, total_w)
      return jax.tree.map(jnp.add, grads, g), (loss, aux)

    zeros = jax.tree.map(jnp.zeros_like, state["params"])
    grads, (loss, aux) = jax.lax.scan(
        micro, zeros, {k: common.split_rows(batch[k], microbatches)
                       for k in KEYS + extra})
    loss = loss.sum()
    new, gnorm = train_state.apply_if_finite(state, grads, loss, tx)
    new = dict(new, step=state["step"] + 1)
    metrics = {k: v.sum() for k, v in aux.items()}
    metrics.update(loss=loss, grad_norm=gnorm, bad_steps=new["bad_steps"],
                   rows=batch["weight"].sum())
    return new, metrics

  return step


# EVALUATION


def held_out_metrics(r, examples, pairwise: bool) -> dict[str, float]:
  """Metrics of host scores `r` ([N, 2] pairs or [N]) of the held-out
  examples (float64 numpy)."""
  r = np.asarray(r, np.float64)
  if pairwise:
    margin = np.array([e["margin"] for e in examples], np.float64)
    diff = r[:, 0] - r[:, 1]
    out = {"pairwise_accuracy": float(np.mean(diff > 0)),
           "margin": float(np.mean(diff)),
           "loss": float(np.mean(np.logaddexp(0.0, -(diff - margin))))}
  else:
    y = np.array([e["label"] for e in examples]) > 0
    out = {"accuracy": float(np.mean((r > 0) == y)),
           "loss": float(np.mean(np.where(y, np.logaddexp(0.0, -r),
                                          np.logaddexp(0.0, r)))),
           "auc": auc(r, y)}
  out.update(score_mean=float(np.mean(r)), score_std=float(np.std(r)))
  return out


def auc(r, positive) -> float:
  """ROC AUC: the chance a positive outscores a negative, ties counting
  half (Mann-Whitney U from average ranks); NaN without both classes."""
  r, pos = np.asarray(r), np.asarray(positive, bool)
  n_pos, n_neg = int(pos.sum()), int((~pos).sum())
  if not n_pos or not n_neg:
    return float("nan")
  _, inverse, counts = np.unique(r, return_inverse=True, return_counts=True)
  avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties averaged
  u = avg_rank[inverse.reshape(-1)][pos].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def make_scorer(cfg: ModelConfig, data: prefs.Batches, mesh, rules):
  """score(params) -> host numpy scores of every example of `data` (in
  order), from every process's rows."""
  fn = jax.jit(functools.partial(_scores, cfg=cfg))

  def score(params):
    out = []
    for step in range(data.num_batches_per_epoch):
      host = data.host_batch(step, jax.process_index(), jax.process_count())
      batch = pipeline.to_global(host, mesh, rules, axes=BATCH_AXES)
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        out.append(fn(params, tokens=batch["tokens"],
                      segment_ids=batch["segment_ids"]))
    r = np.concatenate([np.asarray(x) for x in common.to_host(out)])
    return r[:len(data.examples)]

  return score


# CONFIG


def _fields(c) -> prefs.Fields:
  d = c.data
  return prefs.Fields(prompt=d.prompt_field, chosen=d.chosen_field,
                      rejected=d.rejected_field, response=d.response_field,
                      label=d.label_field, margin=c.loss.margin)


def validate(c) -> None:
  common.validate_model(c)
  train_state.validate_optim(c)
  runinfo.resume_mode(c)
  d = c.data
  if c.objective not in OBJECTIVES:
    raise ValueError(f"config.objective={c.objective!r}; allowed: "
                     f"{OBJECTIVES}")
  if bool(d.train_file) == bool(d.synthetic):
    raise ValueError(
        "config.data.train_file (a preference file: JSONL, JSON, CSV or "
        "Parquet) or config.data.synthetic (a generated set, one of "
        f"{prefs.SYNTHETIC}) is required, not both; got train_file="
        f"{d.train_file!r}, synthetic={d.synthetic!r}")
  if d.train_file and not common.exists(d.train_file):
    raise ValueError(f"config.data.train_file={d.train_file!r}: not found")
  if d.synthetic and d.synthetic not in prefs.SYNTHETIC:
    raise ValueError(f"config.data.synthetic={d.synthetic!r}; known: "
                     f"{prefs.SYNTHETIC}")
  if d.template not in templates.TEMPLATES:
    raise ValueError(f"config.data.template={d.template!r}; allowed: "
                     f"{templates.TEMPLATES}")
  if ("{i}" in d.response_field) != ("{i}" in d.label_field):
    raise ValueError(
        f"config.data.response_field={d.response_field!r} and "
        f"config.data.label_field={d.label_field!r}: both or neither use "
        "{i} (one row -> several responses, as PKU-SafeRLHF)")
  for f in ("batch_size", "seq_len", "microbatches"):
    if d[f] < 1:
      raise ValueError(f"config.data.{f}={d[f]} must be >= 1")
  if d.batch_size % d.microbatches:
    raise ValueError(f"config.data.batch_size={d.batch_size} is not "
                     "divisible by config.data.microbatches="
                     f"{d.microbatches}")
  if not 0.0 <= d.eval_fraction < 1.0:
    raise ValueError(f"config.data.eval_fraction={d.eval_fraction} must be "
                     "in [0, 1)")
  if c.loss.center_coef < 0:
    raise ValueError(f"config.loss.center_coef={c.loss.center_coef} must "
                     "be >= 0")
  if c.loss.margin and d.synthetic:
    raise ValueError(f"config.loss.margin={c.loss.margin!r} names a data "
                     "column; generated data (config.data.synthetic) has "
                     "none")
  if c.objective == "pointwise" and (c.loss.margin or c.loss.center_coef):
    raise ValueError("config.loss.margin and config.loss.center_coef are "
                     "pairwise (Bradley-Terry) options; config.objective="
                     "'pointwise' would ignore them")
  if c.epochs < 0:
    raise ValueError(f"config.epochs={c.epochs} must be >= 0 (0: use "
                     "config.steps)")
  if c.steps < 1 and not c.epochs:
    raise ValueError(f"config.steps={c.steps} must be >= 1")
  if c.eval.every < 0:
    raise ValueError(f"config.eval.every={c.eval.every} must be >= 0")
  common.validate_mesh(
      c, d.batch_size, "data.batch_size",
      ((d.batch_size // d.microbatches,
        f"config.data.batch_size / config.data.microbatches = "
        f"{d.batch_size} / {d.microbatches}"),
       (_eval_rows(c), "config.eval.batch_size")))
  common.validate_init_from(c)  # last: a pipeline's hand-off


def _eval_rows(c) -> int:
  return c.eval.batch_size or c.data.batch_size // c.data.microbatches


# MODEL


def _stage_of(workdir: str) -> str | None:
  try:
    with open(os.path.join(workdir, runinfo.CONFIG)) as f:
      return json.load(f).get("stage")
  except (OSError, ValueError):
    return None


def _rm_shardings(cfg: ModelConfig, mesh, rules):
  shapes, axes = shd.abstract_params(lambda r: reward.init_params(cfg, r),
                                     jax.random.key(0))
  return shapes, shd.shardings_for(shapes, axes, mesh, rules)


def read_stats(path: str) -> dict | None:
  """`reward_stats.json` of a workdir or HF export, or None."""
  f = os.path.join(path, STATS_FILE)
  if not os.path.exists(f):
    return None
  with open(f) as fh:
    return json.load(fh)


def load_reward_model(path: str, mesh=None, rules=shd.DEFAULT_RULES,
                      **overrides) -> tuple[ModelConfig, Any, dict | None]:
  """(cfg, params, stats) of a finished reward model: a reward_model
  workdir (its last checkpoint, model_config.json, reward_stats.json) or an
  HF `*ForSequenceClassification` directory (e.g. workdir/hf; stats when a
  reward_stats.json lies beside it). Params go straight into their
  shardings on `mesh` (default: one device); score them with
  `reward.scores(params, cfg, tokens, segment_ids)` and normalise with
  (r - stats["mean"]) / stats["std"]. `overrides`: ModelConfig fields."""
  kind = ckpt_lib.model_source(path)
  mesh = mesh or shd.make_mesh((1, 1, 1), jax.devices()[:1])
  if kind == "hf":
    if not hf.is_reward_model(path):
      raise ValueError(f"{path}: a causal LM, not a reward model (its "
                       "config.json names no *ForSequenceClassification)")
    cfg, params = hf.load(path, mesh=mesh, rules=rules, **overrides)
    return cfg, params, read_stats(path)
  if _stage_of(path) != "reward_model":
    raise ValueError(f"{path}: an r1jax workdir of stage "
                     f"{_stage_of(path)!r}, not a reward_model run")
  cfg = ckpt_lib.load_model_config(path).replace(**overrides)
  shapes, shardings = _rm_shardings(cfg, mesh, rules)
  abstract = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
      shapes, shardings)
  ckpt = ckpt_lib.Checkpointer(ckpt_lib.checkpoints_dir(path),
                               async_save=False)
  try:
    params = ckpt.restore_params(abstract, path=("train", "params"))
  finally:
    ckpt.close()
  return cfg, params, read_stats(path)


def is_reward_source(path: str) -> bool:
  if ckpt_lib.model_source(path) == "hf":
    return hf.is_reward_model(path)
  return _stage_of(path) == "reward_model"


def build_model(c, mesh, rules, vocab_size: int):
  """(cfg, RM params) from config.init_from / model.hf_dir, else a fresh
  `config.model.preset`."""
  kw = dict(dtype=common.DTYPES[c.model.dtype],
            param_dtype=common.DTYPES[c.model.param_dtype],
            remat=c.model.remat)
  src = c.init_from or c.model.hf_dir
  rng = jax.random.key(c.seed)
  if src and is_reward_source(src):
    cfg, params, _ = load_reward_model(src, mesh, rules, **kw)
  elif src:  # a causal LM: keep the body, add a fresh score head
    cfg, policy = ckpt_lib.init_from(src, mesh=mesh, rules=rules, **kw)
    _, shardings = _rm_shardings(cfg, mesh, rules)
    params = jax.jit(lambda p, r: reward.from_policy(nn.unbox(p), r),
                     out_shardings=shardings)(policy, rng)
  else:
    cfg = presets.get(c.model.preset, **dict(kw, **dict(
        c.model.get("overrides") or {})))
    if cfg.vocab_size < vocab_size:
      cfg = cfg.replace(vocab_size=-(-vocab_size // 128) * 128)
    params, _, _ = shd.init_sharded(lambda r: reward.init_params(cfg, r),
                                    rng, mesh, rules)
  if vocab_size > cfg.vocab_size:
    raise ValueError(f"the tokenizer has {vocab_size} ids but the model only "
                     f"{cfg.vocab_size} embeddings (config.tokenizer / "
                     "config.init_from)")
  return cfg, params


# DATA


def records(c):
  """(train, held-out) Pairs or Labelled records of the config."""
  d, pairwise = c.data, c.objective == "pairwise"
  if d.synthetic:
    recs = prefs.synthetic(d.synthetic, pairwise=pairwise,
                           **dict(d.synthetic_kwargs))
  else:
    recs = prefs.load(d.train_file, pairwise=pairwise, fields=_fields(c))
  return prefs.split(recs, d.eval_fraction, seed=d.seed)


def build_data(c, workdir: str):
  """(train Batches, held-out Batches or None, tokenizer, stats dict)."""
  d = c.data
  train, held = records(c)
  if not train:
    raise ValueError(f"config.data.eval_fraction={d.eval_fraction} left no "
                     "training examples")
  tok = common.tokenizer(c, workdir, lambda: list(prefs.texts(train[:20000])))
  prompter = templates.make_prompter(d.template, tok)
  train_ex, st = prefs.encode(train, tok, prompter=prompter,
                              max_len=d.seq_len)
  held_ex, st_held = prefs.encode(held, tok, prompter=prompter,
                                  max_len=d.seq_len)
  info = {"data/train_examples": len(train_ex),
          "data/held_out_examples": len(held_ex),
          "data/truncated": st.truncated + st_held.truncated,
          "data/response_truncated": (st.response_truncated
                                      + st_held.response_truncated)}
  logging.info("reward_model data: %s", info)
  batches = prefs.Batches(train_ex, batch_size=d.batch_size,
                          seq_len=d.seq_len, seed=d.seed, pad_id=tok.pad_id)
  held_b = prefs.Batches(held_ex, batch_size=_eval_rows(c), seq_len=d.seq_len,
                         pad_id=tok.pad_id, shuffle=False) if held_ex else None
  return batches, held_b, tok, info


def total_steps(c, data: prefs.Batches) -> int:
  """Optimizer updates: config.steps, or config.epochs passes (rounded up)
  over the training pairs / responses."""
  if not c.epochs:
    return int(c.steps)
  return int(np.ceil(c.epochs * data.num_batches_per_epoch))


# RUN


def _write_json(path: str, value: dict) -> None:
  with open(path + ".tmp", "w") as f:
    json.dump(value, f, indent=2)
  os.replace(path + ".tmp", path)


def run(c, workdir: str) -> dict:
  validate(c)
  run_files.write_config(c, workdir)
  d, pairwise = c.data, c.objective == "pairwise"
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  rules = common.rules(c)
  data, held, tok, info = build_data(c, workdir)
  cfg, params = build_model(c, mesh, rules, tok.vocab_size)
  ckpt_lib.save_model_config(workdir, cfg)
  steps = total_steps(c, data)
  tx, sched = train_state.make_optimizer(c.optim, steps)
  carry = {"train": train_state.init_state(params, tx)}
  step_jit = jax.jit(make_train_step(
      cfg, tx, pairwise=pairwise, microbatches=d.microbatches,
      center_coef=c.loss.center_coef), donate_argnums=(0,))

  def step_fn(carry, step):
    host = data.host_batch(step, jax.process_index(), jax.process_count())
    batch = pipeline.to_global(host, mesh, rules, axes=BATCH_AXES)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      state, metrics = step_jit(carry["train"], batch)
    return {"train": state}, metrics, None

  def host_metrics(step, m, _):
    del m
    return {"lr": float(sched(step)), "epoch": float(data.epoch_of(step))}

  # The held-out split, or (none held out) the first training examples,
  # gives the score statistics.
  stats_data = held or prefs.Batches(
      data.examples[:4096], batch_size=_eval_rows(c), seq_len=d.seq_len,
      pad_id=tok.pad_id, shuffle=False)
  score = make_scorer(cfg, stats_data, mesh, rules)
  scored = {}  # step -> held-out scores (the final eval's are reused)

  def evaluate(carry, step):
    scored.clear()
    scored[step] = score(carry["train"]["params"])
    return {f"eval/{k}": v for k, v in held_out_metrics(
        scored[step], held.examples, pairwise).items()}

  seqs = d.batch_size * (2 if pairwise else 1)
  carry, last = loop.run(
      c, workdir, carry,
      loop.Hooks(step=step_fn, host_metrics=host_metrics,
                 evaluate=evaluate if held else None),
      total_steps=steps, tokens_per_step=lambda m: seqs * d.seq_len,
      flops_per_token=6 * cfg.num_params())
  params = carry["train"]["params"]
  if int(common.to_host(carry["train"]["step"])) < steps:
    return last  # interrupted: the rerun resumes and finishes
  r = scored.get(steps)
  if r is None:
    r = score(params)
  stats = {"mean": float(np.mean(r)), "std": float(np.std(r)),
           "count": int(np.size(r)),
           "split": "held_out" if held else "train",
           "objective": c.objective, "step": steps,
           "template": d.template, "seq_len": d.seq_len, **info}
  if jax.process_index() == 0:
    _write_json(os.path.join(workdir, STATS_FILE), stats)
  if c.checkpoint.export_hf:
    export(os.path.join(workdir, "hf"), cfg, params, tok, workdir)
  if jax.process_index() == 0:
    out = {k: v for k, v in last.items() if np.isfinite(v)}
    out.update(runinfo.summary(c, workdir))
    _write_json(os.path.join(workdir, "final_metrics.json"), out)
  return last


def export(directory: str, cfg: ModelConfig, params, tok, workdir: str):
  """An HF `*ForSequenceClassification` directory with the tokenizer and
  the workdir's reward_stats.json. Every process calls it (the params'
  gathers); process 0 writes."""
  if tok.eos_id is not None and tok.pad_id == tok.eos_id:
    logging.warning("export: pad id == EOS id %d; transformers reads the "
                    "score at the last token that is not pad_token_id, "
                    "so a row ending in EOS is read one token early",
                    tok.pad_id)
  hf.save(directory, cfg, params, pad_token_id=tok.pad_id)
  common.save_tokenizer(tok, directory)
  if jax.process_index() == 0:
    shutil.copy(os.path.join(workdir, STATS_FILE),
                os.path.join(directory, STATS_FILE))
