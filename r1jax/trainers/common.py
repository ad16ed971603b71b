"""Pieces every training stage shares: mesh, model, tokenizer, host copies.

Only trainers read `config`; what they hand to models and losses are plain
values. The train state and optimizer are train_state.py; the files a run
writes besides checkpoints and metrics are run_files.py.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.models import init_params, presets

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16,
          "float16": jnp.float16}


def rules(c) -> tuple:
  """Logical-axis rules from `config.mesh.rules` (empty: the defaults)."""
  r = c.mesh.get("rules") or ()
  return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in r) \
      or shd.DEFAULT_RULES


def validate_model(c) -> None:
  for field in ("dtype", "param_dtype"):
    v = c.model[field]
    if v not in DTYPES:
      raise ValueError(f"config.model.{field}={v!r}; allowed: "
                       f"{sorted(DTYPES)}")
  if not (c.model.hf_dir or c.get("init_from")) and \
      c.model.preset not in presets.PRESETS:
    raise ValueError(f"config.model.preset={c.model.preset!r}; known: "
                     f"{sorted(presets.PRESETS)}")


def validate_mesh(c, batch: int, batch_field: str,
                  splits: tuple[tuple[int, str], ...] = ()) -> None:
  """The mesh must fit the devices, and the batch and every piece it is
  split into (`splits`: (rows per piece, fields that set it)) must divide
  over the data-parallel devices: a piece that does not is silently
  replicated by the sharding rules, every chip computing the same rows."""
  try:
    mesh = shd.make_mesh(tuple(c.mesh.shape))
  except ValueError as e:
    raise ValueError(f"config.mesh.shape={tuple(c.mesh.shape)}: {e}") from e
  dp = mesh.shape["data"] * mesh.shape["fsdp"]
  where = (f"the data-parallel size {dp} (mesh data x fsdp of "
           f"config.mesh.shape={tuple(c.mesh.shape)})")
  if batch % dp:
    raise ValueError(f"config.{batch_field}={batch} is not divisible by "
                     f"{where}")
  for rows, fields in splits:
    if rows % dp:
      raise ValueError(f"{fields} gives {rows} rows per piece, not "
                       f"divisible by {where}: every device would compute "
                       "the same rows; use fewer pieces or more rows")


def tokenizer(c, workdir: str,
              corpus_fn: Callable[[], list[str]] | None = None
              ) -> tok_lib.Tokenizer:
  """The run's tokenizer: explicit path > model dir > the workdir's own (a
  resumed run) > init_from's > one trained here on `corpus_fn()`. It is
  saved into the workdir (`save_tokenizer`), so a workdir that holds a
  model also holds its tokenizer."""
  tok = _find_tokenizer(c, workdir, corpus_fn)
  save_tokenizer(tok, workdir)
  return tok


def _find_tokenizer(c, workdir: str, corpus_fn) -> tok_lib.Tokenizer:
  init_from = c.get("init_from", "")
  for field, path in (("tokenizer", c.get("tokenizer", "")),
                      ("model.hf_dir", c.model.hf_dir)):
    if path:
      try:
        return tok_lib.load(path)
      except FileNotFoundError as e:
        raise ValueError(f"config.{field}={path!r}: {e}") from e
  for d in (workdir, init_from):
    sp = os.path.join(d, tok_lib.SP_MODEL_FILE) if d else ""
    if sp and os.path.exists(sp):
      return tok_lib.SentencePieceTokenizer(sp)
  if init_from:
    try:
      return tok_lib.load(init_from)
    except FileNotFoundError as e:
      raise ValueError(
          f"config.init_from={init_from!r} holds no tokenizer "
          f"({tok_lib.SP_MODEL_FILE} or {tok_lib.HF_FILE}): set "
          "config.tokenizer to the tokenizer the model was trained with"
      ) from e
  if corpus_fn is None:
    raise ValueError("config.tokenizer: no tokenizer found (set "
                     "config.tokenizer or config.init_from)")
  path = os.path.join(workdir, tok_lib.SP_MODEL_FILE)
  logging.info("training a SentencePiece tokenizer -> %s", path)
  return tok_lib.train_sentencepiece(
      corpus_fn(), path[:-len(".model")], vocab_size=c.get("vocab_size", 400),
      **dict(c.get("tokenizer_options") or {}))


def save_tokenizer(tok: tok_lib.Tokenizer, workdir: str) -> None:
  """Copies the tokenizer's files into `workdir` (process 0): what
  `config.init_from=workdir` and transformers' AutoTokenizer load."""
  if jax.process_index() != 0:
    return
  try:
    tok.save(workdir)
  except NotImplementedError as e:
    logging.warning("%s: the workdir holds no tokenizer", e)


# Path prefixes whose files an earlier pipeline stage writes: a stage's
# validate takes them as present (r1jax/trainers/pipeline.py sets them).
_WRITTEN_LATER: list[str] = []


@contextlib.contextmanager
def written_later(prefix: str):
  """Inside: paths under `prefix` count as existing (pipeline hand-offs)."""
  _WRITTEN_LATER.append(prefix)
  try:
    yield
  finally:
    _WRITTEN_LATER.remove(prefix)


def is_written_later(path: str) -> bool:
  return any(str(path).startswith(p) for p in _WRITTEN_LATER)


def exists(path: str) -> bool:
  """os.path.exists, or a pipeline hand-off an earlier stage will write."""
  return is_written_later(path) or os.path.exists(path)


def validate_init_from(c) -> None:
  """config.init_from (and config.model.hf_dir, its alias) is a directory
  `checkpoint.init_from` reads; else an error that says what it looks
  like and what it lacks."""
  for field, path in (("init_from", c.get("init_from", "")),
                      ("model.hf_dir", c.model.get("hf_dir", ""))):
    if path and not is_written_later(path):
      try:
        ckpt_lib.model_source(path)
      except ValueError as e:
        raise ValueError(f"config.{field}: {e}") from e


def model(c, mesh, rules_, vocab_size: int, seed: int):
  """(ModelConfig, params): from init_from / hf_dir, or a fresh preset."""
  kw = dict(dtype=DTYPES[c.model.dtype],
            param_dtype=DTYPES[c.model.param_dtype],
            remat=c.model.get("remat", "none"),
            attention=c.model.get("attention", "auto"),
            attention_chunk=c.model.get("attention_chunk", 512),
            logits_chunk=c.model.get("logits_chunk", 0))
  src = c.get("init_from", "") or c.model.hf_dir
  if src:
    cfg, params = ckpt_lib.init_from(src, mesh=mesh, rules=rules_, **kw)
  else:
    # ModelConfig fields set in config.model.overrides (if any) win.
    cfg = presets.get(c.model.preset,
                      **dict(kw, **dict(c.model.get("overrides") or {})))
    if cfg.vocab_size < vocab_size:
      cfg = cfg.replace(vocab_size=-(-vocab_size // 128) * 128)
    params, _, _ = shd.init_sharded(lambda r: init_params(cfg, r),
                                    jax.random.key(seed), mesh, rules_)
  if vocab_size > cfg.vocab_size:
    raise ValueError(f"the tokenizer has {vocab_size} ids but the model only "
                     f"{cfg.vocab_size} embeddings (config.tokenizer / "
                     "config.model.hf_dir / config.init_from)")
  return cfg, params


def split_rows(x, n: int):
  """[B, ...] -> [n, B/n, ...]; micro-batch i takes rows i, i+n, ... so
  every micro-batch spans all the devices the rows are sharded over."""
  return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)


def to_host(tree) -> Any:
  """numpy copy of a tree of global arrays, also when other processes hold
  some of the shards (multi-host: every process gets the whole value)."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  def one(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return jax.device_get(x)
    if x.sharding.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return jax.tree.map(one, tree)


def abstract(tree) -> Any:
  """ShapeDtypeStructs with shardings: the restore target of `tree`."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      tree)


def stop_ids(tok: tok_lib.Tokenizer, stop_tokens, field: str) -> tuple:
  out = [tok.eos_id] if tok.eos_id is not None else []
  for s in stop_tokens:
    i = tok.token_to_id(s)
    if i is None:
      raise ValueError(f"config.{field}: {s!r} is not a single token of the "
                       "tokenizer")
    out.append(i)
  return tuple(out)
