"""The `sft` / `pretrain` stages: next-token loss on packed sequences.

  python -m r1jax.main --config=configs/sft.py --workdir=/tmp/sft \
      --config.data.train_file=traces.jsonl --config.init_from=/ckpt/base

Cold-start SFT, rejection-sampling SFT and distillation are SFT configs on
{prompt, completion} JSONL (loss on the completion only); pretraining
trains on plain text. Documents are packed with segment ids, so no token
attends across documents; the loss is normalised by the global number of
target tokens, so it does not depend on micro-batching or the mesh.

Data at scale is tokenized once (experiments/prepare_sft.py) and streamed
from `config.data.prepared_dir`; small files are tokenized at start-up and
held in memory. Both are `pipeline.SftData`, whose `host_batch(step)` is a
pure function of the step, so a resumed run sees the same batches.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import runinfo
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import corpora, jsonl, pipeline, prepared
from r1jax.evaluation import evaluators, runner
from r1jax.losses import chunked
from r1jax.losses import sft as sft_loss
from r1jax.models.transformer import ModelConfig, Transformer, output_head
from r1jax.trainers import common, loop
from r1jax.trainers import run_files
from r1jax.trainers import train_state

KEYS = ("tokens", "segment_ids", "positions", "loss_mask")


def make_sft_step(cfg: ModelConfig, tx, microbatches: int = 1) -> Callable:
  """sft_step(state, batch) -> (state, metrics); batch holds KEYS [B, T]."""

  def micro_loss(params, mb, num_targets):
    if cfg.logits_chunk:  # lm head over chunks of positions (chunked.py)
      x_BxTxD, _ = Transformer(cfg).apply(
          {"params": params}, mb["tokens"], mb["positions"],
          mb["segment_ids"], return_hidden=True)
      head, spec = output_head(params, cfg)
      nll, count, correct = chunked.next_token_loss(
          x_BxTxD, head, spec, mb["tokens"], mb["loss_mask"],
          cfg.logits_chunk, dtype=cfg.dtype)
      return nll / num_targets, (nll, count, correct)
    logits, _ = Transformer(cfg).apply(
        {"params": params}, mb["tokens"], mb["positions"], mb["segment_ids"])
    nll, count, correct = sft_loss.next_token_loss(logits, mb["tokens"],
                                                   mb["loss_mask"])
    return nll / num_targets, (nll, count, correct)

  def sft_step(state, batch):
    num_targets = jnp.maximum(batch["loss_mask"].sum(), 1).astype(
        jnp.float32)

    def micro(grads, mb):
      (loss, aux), g = jax.value_and_grad(micro_loss, has_aux=True)(
          state["params"], mb, num_targets)
      return jax.tree.map(jnp.add, grads, g), (loss,) + aux

    zeros = jax.tree.map(jnp.zeros_like, state["params"])
    grads, (loss, nll, count, correct) = jax.lax.scan(
        micro, zeros,
        {k: common.split_rows(batch[k], microbatches) for k in KEYS})
    loss = loss.sum()
    new, gnorm = train_state.apply_if_finite(state, grads, loss, tx)
    new = dict(new, step=state["step"] + 1)
    return new, {"loss": loss, "grad_norm": gnorm,
                 "token_accuracy": correct.sum() / num_targets,
                 "tokens": count.sum(), "bad_steps": new["bad_steps"]}

  return sft_step


def validate(c) -> None:
  common.validate_model(c)
  train_state.validate_optim(c)
  runinfo.resume_mode(c)
  d = c.data
  if d.get("prepared_dir"):
    given = [f for f in ("train_file", "corpus") if d[f]]
    if given:
      raise ValueError(
          f"config.data.prepared_dir={d.prepared_dir!r} and " +
          " and ".join(f"config.data.{f}={d[f]!r}" for f in given) +
          " are both set; train on one: set config.data.prepared_dir='' "
          "for the in-memory path, or the other field(s) to ''")
    if not os.path.exists(os.path.join(d.prepared_dir, "metadata.json")):
      raise ValueError(f"config.data.prepared_dir={d.prepared_dir!r}: no "
                       "metadata.json (write it with "
                       "experiments/prepare_sft.py)")
  elif d.train_file and d.corpus:
    raise ValueError(f"config.data.train_file={d.train_file!r} and "
                     f"config.data.corpus={d.corpus!r} are both set; one "
                     "would be ignored: set config.data.corpus='' to train "
                     "on the file, or train_file='' for the corpus")
  elif not d.train_file and not d.corpus:
    raise ValueError("config.data.train_file is required: a JSONL of "
                     "{prompt, completion} (or documents, with "
                     "config.data.text_field); or pretrain on a generated "
                     f"config.data.corpus (one of {corpora.names()}; "
                     "configs/sft.py:tiny); or a tokenized "
                     "config.data.prepared_dir")
  if d.corpus and d.corpus not in corpora.names():
    raise ValueError(f"config.data.corpus={d.corpus!r}; known: "
                     f"{corpora.names()}")
  for f in ("batch_size", "seq_len", "microbatches"):
    if d[f] < 1:
      raise ValueError(f"config.data.{f}={d[f]} must be >= 1")
  if d.batch_size % d.microbatches:
    raise ValueError(f"config.data.batch_size={d.batch_size} is not "
                     f"divisible by config.data.microbatches="
                     f"{d.microbatches}")
  if c.get("epochs", 0) < 0:
    raise ValueError(f"config.epochs={c.epochs} must be >= 0 (0: use "
                     "config.steps)")
  if c.steps < 1 and not c.get("epochs", 0):
    raise ValueError(f"config.steps={c.steps} must be >= 1")
  for name, e in c.evals.items():
    evaluators.validate(f"config.evals.{name}", e)
  if c.evals:
    common.validate_mesh(c, c.eval.batch_rows, "eval.batch_rows")
  common.validate_mesh(
      c, d.batch_size, "data.batch_size",
      ((d.batch_size // d.microbatches,
        f"config.data.batch_size / config.data.microbatches = "
        f"{d.batch_size} / {d.microbatches}"),))
  # Last: paths an earlier pipeline stage may write.
  common.validate_init_from(c)
  extra = tuple(d.get("extra_files", ()))
  files = [("train_file", d.train_file)] + [
      (f"extra_files[{i}]", f) for i, f in enumerate(extra)]
  if files[1:] and not d.train_file:
    raise ValueError("config.data.extra_files are read after "
                     "config.data.train_file, which is not set")
  for field, path in files[1:]:
    if not path:
      raise ValueError(f"config.data.{field} is empty (a JSONL path)")
  for field, path in files:
    if path and not common.exists(path):
      raise ValueError(f"config.data.{field}={path!r}: not found")


def _records(c) -> tuple[list[dict], bool]:
  """(records, is_plain_text)."""
  d = c.data
  if d.corpus:
    return corpora.get(d.corpus, **dict(d.corpus_kwargs)), True
  rows = []
  for path in (d.train_file, *tuple(d.get("extra_files", ()))):
    part = list(jsonl.read_jsonl(path))
    if not d.text_field:
      for i, r in enumerate(part[:100]):
        for f in (d.prompt_field, d.completion_field):
          if f not in r:
            raise ValueError(f"{path}: line {i + 1} has no {f!r} field "
                             "(config.data.prompt_field / completion_field)")
    rows += part
  return rows, bool(d.text_field)


def _in_memory(c, workdir: str):
  """(SftData, tokenizer): the small-file path, tokenized here."""
  d = c.data
  records, plain = _records(c)
  field = d.text_field or "text"
  tok = common.tokenizer(
      c, workdir, lambda: [r[field] if plain else
                           r[d.prompt_field] + r[d.completion_field]
                           for r in records[:20000]])
  if plain:
    examples = pipeline.encode_text([r[field] for r in records], tok)
  else:
    examples = pipeline.encode_sft(records, tok,
                                   prompt_field=d.prompt_field,
                                   completion_field=d.completion_field)
  data = pipeline.SftData(examples, seq_len=d.seq_len,
                          batch_size=d.batch_size, seed=d.seed,
                          pad_id=tok.pad_id)
  logging.info("SFT data: in-memory, %d examples, %d tokens",
               data.num_examples, data.num_tokens)
  return data, tok


def _streamed(c, workdir: str):
  """(SftData, tokenizer) over config.data.prepared_dir."""
  d = c.data
  if c.get("tokenizer") or c.get("init_from") or c.model.get("hf_dir"):
    tok = common.tokenizer(c, workdir)
  else:  # the tokenizer the data was prepared with
    tok = tok_lib.load(os.path.join(d.prepared_dir, "tokenizer"))
    common.save_tokenizer(tok, workdir)
  data = prepared.open_data(d.prepared_dir, seq_len=d.seq_len,
                            batch_size=d.batch_size, seed=d.seed,
                            pad_id=tok.pad_id, tokenizer=tok)
  logging.info("SFT data: streaming from %s, %d examples, %d tokens, %d "
               "batches per epoch", d.prepared_dir, data.num_examples,
               data.num_tokens, data.num_batches_per_epoch)
  return data, tok


def total_steps(c, data) -> int:
  """Optimizer updates: config.steps, or config.epochs passes over `data`
  (whole batches, rounded up)."""
  epochs = c.get("epochs", 0)
  if not epochs:
    return int(c.steps)
  steps = int(np.ceil(epochs * data.num_batches_per_epoch))
  logging.info("config.epochs=%s x %d batches per epoch = %d steps", epochs,
               data.num_batches_per_epoch, steps)
  return steps


def run(c, workdir: str) -> dict:
  validate(c)
  run_files.write_config(c, workdir)
  d = c.data
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  rules = common.rules(c)
  if d.get("prepared_dir"):
    data, tok = _streamed(c, workdir)
  else:
    data, tok = _in_memory(c, workdir)
  cfg, params = common.model(c, mesh, rules, tok.vocab_size, c.seed)
  ckpt_lib.save_model_config(workdir, cfg)
  steps = total_steps(c, data)
  tx, sched = train_state.make_optimizer(c.optim, steps)
  carry = {"train": train_state.init_state(params, tx)}
  step_jit = jax.jit(make_sft_step(cfg, tx, d.microbatches),
                     donate_argnums=(0,))

  fetch = functools.partial(data.host_batch, process_index=jax.process_index(),
                            process_count=jax.process_count())
  depth = d.get("prefetch", 0)
  prefetcher = prepared.Prefetcher(fetch, depth) if depth else None

  def step_fn(carry, step):
    host = prefetcher.get(step) if prefetcher else fetch(step)
    batch = pipeline.to_global(host, mesh, rules)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      state, metrics = step_jit(carry["train"], batch)
    return {"train": state}, metrics, None

  def host_metrics(step, m, _):
    return {"lr": float(sched(step)), "epoch": float(data.epoch_of(step)),
            "perplexity": float(np.exp(min(m["loss"], 50.0)))}

  protocols = evaluators.trainer_protocols(c, tok)

  def evaluate(carry, step):
    del step
    model = runner.Model(params=carry["train"]["params"], cfg=cfg, tok=tok,
                         mesh=mesh, rules=rules)
    return evaluators.run_all(model, protocols)

  try:
    carry, last = loop.run(
        c, workdir, carry,
        loop.Hooks(step=step_fn, host_metrics=host_metrics,
                   evaluate=evaluate if protocols else None),
        total_steps=steps,
        tokens_per_step=lambda m: d.batch_size * d.seq_len,
        flops_per_token=6 * cfg.num_params())
  finally:
    if prefetcher:
      prefetcher.close()
  return run_files.finish(c, workdir, cfg, carry["train"]["params"], last,
                       steps)
