"""The `generate` stage: k completions per prompt -> JSONL.

Output `<workdir>/generations.jsonl`, one line per prompt:
  {"prompt": ..., "text": <templated prompt>, "completions": [
     {"text", "num_tokens", "logprob_sum", "finish_reason": "stop"|"length"}]}
The model: `config.init_from`, a Hugging Face model directory or an r1jax
workdir (its last checkpoint), with the tokenizer found there; empty: a
random `config.model.preset` (the demo). `config.model.hf_dir` is a
deprecated alias of `config.init_from`.
Interrupted runs resume: prompts already written are skipped.
Multi-host: every process samples its shards of each batch; process 0
gathers the completions and writes the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import jsonl, templates
from r1jax.models import init_params, presets
from r1jax.rewards import decode as decode_lib
from r1jax.sampling import Sampling, jit_sample, left_pad
from r1jax.trainers import common, rl_data

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16,
           "float16": jnp.float16}


def source(c) -> tuple[str, str]:
  """(field, path) of the model to load: config.init_from, or its
  deprecated alias config.model.hf_dir; ("", "") for a random preset."""
  init_from, hf_dir = c.get("init_from", ""), c.model.hf_dir
  if init_from and hf_dir and init_from != hf_dir:
    raise ValueError(f"config.init_from={init_from!r} and config.model."
                     f"hf_dir={hf_dir!r}: set only config.init_from "
                     "(model.hf_dir is its deprecated alias)")
  if init_from:
    return "init_from", init_from
  return ("model.hf_dir", hf_dir) if hf_dir else ("", "")


def validate(c) -> None:
  """Fails before anything compiles, naming the field."""
  for field in ("model.dtype", "model.param_dtype"):
    v = c.model.dtype if field == "model.dtype" else c.model.param_dtype
    if v not in _DTYPES:
      raise ValueError(f"config.{field}={v!r}; allowed: {sorted(_DTYPES)}")
  if c.cache_dtype and c.cache_dtype not in _DTYPES:
    raise ValueError(f"config.cache_dtype={c.cache_dtype!r}; allowed: '' or "
                     f"{sorted(_DTYPES)}")
  if c.template not in templates.TEMPLATES:
    raise ValueError(f"config.template={c.template!r}; allowed: "
                     f"{templates.TEMPLATES}")
  if c.num_samples < 1 or c.batch_prompts < 1 or c.max_new_tokens < 1:
    raise ValueError("config.num_samples, config.batch_prompts and "
                     "config.max_new_tokens must be >= 1")
  field, path = source(c)
  if path:
    try:
      ckpt_lib.model_source(path)
    except ValueError as e:
      raise ValueError(f"config.{field}: {e}") from e
  elif c.model.preset not in presets.PRESETS:
    raise ValueError(f"config.model.preset={c.model.preset!r}; known: "
                     f"{sorted(presets.PRESETS)}")
  if not c.demo and not c.prompts:
    raise ValueError("config.prompts: a JSONL file of prompts is required "
                     "(or use the :demo variant)")
  if c.prompts and not os.path.exists(c.prompts):
    raise ValueError(f"config.prompts={c.prompts!r}: file not found")
  Sampling(temperature=c.sampling.temperature, top_p=c.sampling.top_p,
           top_k=c.sampling.top_k, min_p=c.sampling.min_p)


def _demo_prompts(n: int = 16, seed: int = 0) -> list[str]:
  rng = random.Random(seed)
  return [f"What is {rng.randint(2, 99)} {rng.choice('+-*')} "
          f"{rng.randint(2, 99)}?" for _ in range(n)]


def _tokenizer(c, workdir: str, prompts: list[str]) -> tok_lib.Tokenizer:
  """config.tokenizer > the model source's > (random model) the
  workdir's, or one trained there on the prompts."""
  if c.tokenizer:
    return tok_lib.load(c.tokenizer)
  field, src = source(c)
  if src:
    try:
      return tok_lib.load(src)
    except FileNotFoundError as e:
      raise ValueError(
          f"config.{field}={src!r} holds no tokenizer "
          f"({tok_lib.SP_MODEL_FILE} or {tok_lib.HF_FILE}): set "
          "config.tokenizer to the tokenizer the model was trained with"
      ) from e
  path = os.path.join(workdir, tok_lib.SP_MODEL_FILE)
  if os.path.exists(path):
    return tok_lib.SentencePieceTokenizer(path)
  corpus = [templates.render(c.template, p) for p in prompts]
  corpus += [f"<think> {p} </think> <answer> {i} </answer>"
             for i, p in enumerate(prompts)]
  return tok_lib.train_sentencepiece(corpus * 4, path[:-len(".model")],
                                     vocab_size=400)


def _model(c, mesh, vocab_size: int):
  kw = dict(dtype=_DTYPES[c.model.dtype],
            param_dtype=_DTYPES[c.model.param_dtype])
  _, src = source(c)
  if src:
    return ckpt_lib.init_from(src, mesh=mesh, **kw)
  cfg = presets.get(c.model.preset, **kw)
  if cfg.vocab_size < vocab_size:
    cfg = cfg.replace(vocab_size=-(-vocab_size // 128) * 128)
  params, _, _ = shd.init_sharded(lambda r: init_params(cfg, r),
                                  jax.random.key(c.seed), mesh)
  return cfg, params


def _resume_count(path: str) -> int:
  """Prompts already in `path`, as process 0 sees it, on every process."""
  done = (sum(1 for _ in jsonl.read_jsonl(path))
          if jax.process_index() == 0 and os.path.exists(path) else 0)
  if jax.process_count() == 1:
    return done
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return int(multihost_utils.broadcast_one_to_all(np.int32(done)))


def _write(f, prompts, texts, out, tok, strip, k: int) -> None:
  """One JSONL line per prompt with its k completions (EOS, padding and
  special tokens stripped from the text, R1 tags kept)."""
  for i, (prompt, text) in enumerate(zip(prompts, texts)):
    rows = slice(i * k, (i + 1) * k)
    comps = [{"text": t, "num_tokens": int(n),
              "logprob_sum": float(logp[:n].sum()),
              "finish_reason": "length" if trunc else "stop"}
             for t, n, logp, trunc in zip(
                 decode_lib.decode(tok, out["tokens"][rows],
                                   out["length"][rows], strip),
                 out["length"][rows], out["logp"][rows],
                 out["truncated"][rows])]
    f.write(json.dumps({"prompt": prompt, "text": text,
                        "completions": comps}, ensure_ascii=False) + "\n")
  f.flush()


def run(c, workdir: str) -> str:
  """Runs the stage; returns the output path."""
  validate(c)
  if c.model.hf_dir:
    logging.warning("config.model.hf_dir is deprecated: use config.init_from "
                    "(a Hugging Face directory or an r1jax workdir)")
  os.makedirs(workdir, exist_ok=True)
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  raw = ([r[c.prompt_field] for r in jsonl.read_jsonl(c.prompts)]
         if c.prompts else _demo_prompts())
  tok = _tokenizer(c, workdir, raw)
  cfg, params = _model(c, mesh, tok.vocab_size)
  if tok.vocab_size > cfg.vocab_size:
    raise ValueError(f"tokenizer has {tok.vocab_size} ids but the model only "
                     f"{cfg.vocab_size} embeddings (config.tokenizer="
                     f"{c.tokenizer!r}, config.init_from={source(c)[1]!r})")
  stop = [tok.eos_id] if tok.eos_id is not None else []
  for s in c.stop_tokens:
    i = tok.token_to_id(s)
    if i is None:
      raise ValueError(f"config.stop_tokens: {s!r} is not a single token of "
                       "the tokenizer")
    stop.append(i)
  sampling = Sampling(temperature=c.sampling.temperature,
                      top_p=c.sampling.top_p, top_k=c.sampling.top_k,
                      min_p=c.sampling.min_p)
  out_path = os.path.join(workdir, "generations.jsonl")
  done = _resume_count(out_path)
  if done:
    logging.info("resuming: %d prompts already in %s", done, out_path)
  try:
    prompter = templates.make_prompter(c.template, tok,
                                       system=c.system_prompt,
                                       prefill=c.prefill)
  except ValueError as e:
    raise ValueError(f"config.template={c.template!r}: {e}") from e
  texts = [prompter.render(p) for p in raw]
  rng = jax.random.key(c.seed + 1)
  start = time.time()
  writer = (open(out_path, "a", encoding="utf-8")
            if jax.process_index() == 0 else contextlib.nullcontext())
  strip = decode_lib.stripped_ids(tok)
  with writer as f, jax.set_mesh(mesh), \
      nn.logical_axis_rules(shd.DEFAULT_RULES):
    for lo in range(done, len(texts), c.batch_prompts):
      batch = texts[lo:lo + c.batch_prompts]
      ids = [tok_lib.encode_prompt(tok, t) for t in batch]
      # Pad the batch to batch_prompts rows so the last batch reuses the
      # compiled sampler; the filler rows are dropped below.
      ids += [ids[-1]] * (c.batch_prompts - len(ids))
      tokens, mask = left_pad(ids, tok.pad_id)
      out = jit_sample(
          params, cfg, rl_data.place(tokens, mesh, ("act_batch", None)),
          rl_data.place(mask, mesh, ("act_batch", None)),
          jax.random.fold_in(rng, lo),
          max_new_tokens=c.max_new_tokens, sampling=sampling,
          stop_ids=tuple(stop), num_samples=c.num_samples,
          pad_id=tok.pad_id,
          cache_dtype=_DTYPES.get(c.cache_dtype) if c.cache_dtype else None)
      # A collective: every process joins, process 0 writes.
      out = common.to_host({"tokens": out.tokens_BxM, "logp": out.logp_BxM,
                            "length": out.length_B,
                            "truncated": out.truncated_B})
      if f is not None:
        _write(f, raw[lo:lo + len(batch)], batch, out, tok, strip,
               c.num_samples)
      n_done = min(lo + c.batch_prompts, len(texts))
      rate = (n_done - done) / (time.time() - start)
      logging.info("generate: %d/%d prompts (%.2f prompts/s, ETA %.0fs)",
                   n_done, len(texts), rate, (len(texts) - n_done) / rate)
  print(f"wrote {len(texts)} prompts x {c.num_samples} completions to "
        f"{out_path}")
  return out_path
