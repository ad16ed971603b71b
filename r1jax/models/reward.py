"""Scalar-head reward model: the transformer's hidden state at the last real
token of a row, dotted with one learned vector.

Params are the transformer's (without `lm_head`) plus one key, `"score"`:
a [D] vector with logical axes ("embed",). This is the layout of Hugging
Face `Qwen2ForSequenceClassification` / `LlamaForSequenceClassification`
with num_labels=1 (`score.weight` [1, D], no bias); hf.py loads and saves it.

The score is read at the last token whose segment id is non-zero, so left-
and right-padded batches give the same reward for the same text (HF reads
the rightmost token that is not `pad_token_id`: the same token whenever the
pad id does not occur in the text).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r1jax.models.transformer import ModelConfig, Transformer

SCORE = "score"
# Logical axes of the score head: sharded like the hidden width it reads.
SCORE_AXES = ("embed",)


def _score_init(embed_dim: int):
  # N(0, 1/sqrt(D+1)) as the reward heads of Ziegler et al. 2019 and
  # Stiennon et al. 2020 (openai/lm-human-preferences): rewards start O(1)
  # on RMS-normed hidden states, and unlike a zero head the backbone gets
  # a gradient from the first Bradley-Terry step.
  return nn.initializers.normal(stddev=1.0 / math.sqrt(embed_dim + 1))


def _boxed_score(cfg_dim: int, dtype, rng: jax.Array):
  return nn.with_logical_partitioning(_score_init(cfg_dim), SCORE_AXES)(
      rng, (cfg_dim,), dtype)


def init_params(cfg: ModelConfig, rng: jax.Array) -> dict[str, Any]:
  """Boxed (logically partitioned) RM params; see sharding.init_sharded."""
  rng_body, rng_score = jax.random.split(rng)
  tokens = jnp.zeros((1, 1), jnp.int32)
  params = dict(Transformer(cfg).init(rng_body, tokens,
                                      return_hidden=True)["params"])
  params[SCORE] = _boxed_score(cfg.embed_dim, cfg.param_dtype, rng_score)
  return params


def from_policy(params, rng: jax.Array, sharding=None) -> dict[str, Any]:
  """RM params from a causal LM's: drops `lm_head`, adds a fresh score head.

  Boxed `params` give a boxed head; plain arrays give an array (dtype of the
  embedding), placed on `sharding` when given (e.g. the NamedSharding that
  `SCORE_AXES` maps to), else where jax puts new arrays.
  """
  params = dict(params)
  params.pop("lm_head", None)
  emb = params["embedding"]
  boxed = isinstance(emb, nn.Partitioned)
  raw = emb.value if boxed else emb
  d = raw.shape[-1]
  score = _boxed_score(d, raw.dtype, rng)
  if not boxed:
    score = nn.unbox(score)
    if sharding is not None:
      score = jax.device_put(score, sharding)
  params[SCORE] = score
  return params


def is_reward_params(params) -> bool:
  """Whether `params` hold a score head (an RM) rather than an LM."""
  return SCORE in params


def last_real_index(segment_ids_BxS) -> jax.Array:
  """int32[B]: index of the last token with a non-zero segment id.

  Works for left padding, right padding and packed rows (then: the last
  document). A row without any real token gives S - 1.
  """
  real_BxS = segment_ids_BxS != 0
  s = real_BxS.shape[-1]
  from_end_B = jnp.argmax(real_BxS[:, ::-1], axis=-1)
  return (s - 1 - from_end_B).astype(jnp.int32)


def hidden_states(params, cfg: ModelConfig, tokens_BxS, segment_ids_BxS,
                  positions_BxS=None) -> jax.Array:
  """Final-normed hidden states [B, S, D] of the RM's transformer."""
  body = {k: v for k, v in nn.unbox(params).items() if k != SCORE}
  x_BxSxD, _ = Transformer(cfg).apply(
      {"params": body}, tokens_BxS, positions_BxS, segment_ids_BxS,
      return_hidden=True)
  return x_BxSxD


def scores(params, cfg: ModelConfig, tokens_BxS, segment_ids_BxS,
           positions_BxS=None, chunks: int = 1) -> jax.Array:
  """float32[B]: the reward of each row, read at its last real token.

  `segment_ids_BxS`: 0 for padding (a padded batch passes its attention
  mask). `positions_BxS` default: the count of earlier real tokens, so left
  padding does not shift RoPE positions.
  `chunks` > 1 (must divide B): that many forwards one after the other, on
  interleaved rows (row i in chunk i % chunks), so a batch-sharded array is
  split without communication and the temporaries (each layer's
  [rows, heads, S, S] attention scores) shrink by the same factor.
  """
  if positions_BxS is None:
    positions_BxS = jnp.maximum(
        jnp.cumsum(segment_ids_BxS != 0, axis=-1) - 1, 0)
  b = tokens_BxS.shape[0]
  if chunks == 1:
    return _scores(params, cfg, tokens_BxS, segment_ids_BxS, positions_BxS)
  if chunks < 1 or b % chunks:
    raise ValueError(f"chunks={chunks} must be >= 1 and divide the "
                     f"{b} rows")
  def split(x_BxS):  # [B, S] -> [C, B/C, S], chunk c = rows c, c + C, ...
    return jnp.swapaxes(x_BxS.reshape(b // chunks, chunks, -1), 0, 1)
  r_CxN = jax.lax.map(
      lambda a: _scores(params, cfg, *a),
      (split(tokens_BxS), split(segment_ids_BxS), split(positions_BxS)))
  return jnp.swapaxes(r_CxN, 0, 1).reshape(b)


def _scores(params, cfg, tokens_BxS, segment_ids_BxS, positions_BxS):
  x_BxSxD = hidden_states(params, cfg, tokens_BxS, segment_ids_BxS,
                          positions_BxS)
  idx_B = last_real_index(segment_ids_BxS)
  h_BxD = jnp.take_along_axis(x_BxSxD, idx_B[:, None, None], axis=1)[:, 0]
  w_D = nn.unbox(params)[SCORE]
  return jnp.einsum("BD,D->B", h_BxD.astype(jnp.float32),
                    w_D.astype(jnp.float32))
