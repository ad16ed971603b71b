"""Prefill + `lax.while_loop` decode over the explicit KV cache.

`sample` is a pure function of (params, prompts, rng): it traces inside a
larger jitted program (the GRPO step) and `jit_sample` is its standalone
compiled entry. Prompts are LEFT-padded `[P, T]` with a mask; each prompt is
prefilled once and its cache is shared by its G samples (rows are ordered
prompt-major: p0g0, p0g1, ..., p1g0, ...). The loop exits early once every
row has stopped (a stop id drawn) or after `max_new_tokens`. The decode loop
runs in phases over a KV cache that grows between them (`kv_buckets`), so a
step's attention reads about the slots filled so far, not all T + M.

Letters: P prompts, G samples per prompt, B = P * G rows, T prompt length,
M max new tokens, V vocab.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from r1jax.models.transformer import (ModelConfig, decode_params,
                                      forward_cached, init_cache)
from r1jax.sampling.strategies import Sampling, fold_in, sample as sample_step

# Prompt lengths are padded up to one of these (then to multiples of the
# largest), so a new prompt length does not recompile the sampler.
BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def bucket_length(n: int, buckets: Sequence[int] = BUCKETS) -> int:
  for b in buckets:
    if n <= b:
      return b
  top = buckets[-1]
  return -(-n // top) * top


class Completions(NamedTuple):
  """Per row (B = P * G): tokens and log-probs of the completion."""
  tokens_BxM: jax.Array  # int32, pad_id after the stop token
  logp_BxM: jax.Array  # log p(token) under softmax(logits / temperature)
  logp_truncated_BxM: jax.Array  # under the truncated distribution drawn from
  mask_BxM: jax.Array  # int32, 1 for completion tokens (stop token included)
  length_B: jax.Array  # int32 number of completion tokens
  truncated_B: jax.Array  # bool: hit max_new_tokens without a stop token


class _State(NamedTuple):
  step: jax.Array
  tokens: jax.Array
  logp: jax.Array
  logp_t: jax.Array
  done: jax.Array
  logits: jax.Array
  cache: dict
  rng: jax.Array


# Decode attention reads the whole cache it is given, so the cache grows in
# phases: one `lax.while_loop` per bucket of slots, each bucket this factor
# longer than the one before (log-spaced: a few compiled loop bodies; a step
# reads at most KV_BUCKET_RATIO x the slots it needs). Reading a static
# prefix of one full-length cache instead made XLA copy every cache buffer
# twice per step (the in-place write fused into the prefix slice).
KV_BUCKET_RATIO = 2.0
KV_BUCKET_MIN = 128  # slots of the first bucket (at least T + 1)


def kv_buckets(t: int, m: int, ratio: float | None = KV_BUCKET_RATIO,
               first: int = KV_BUCKET_MIN) -> tuple[int, ...]:
  """Increasing cache lengths S_1 < ... < S_n = t + m read by decode phases.

  Decode step i writes slot t + i and runs in the first bucket with
  t + i < S_j, with a cache of S_j slots. `ratio` None or <= 1: one bucket.
  """
  if first < 1:
    raise ValueError(f"kv_bucket_min={first} must be >= 1")
  total = t + m
  if not ratio or ratio <= 1.0:
    return (total,)
  out, s = [], max(first, t + 1)
  while s < total:
    out.append(s)
    s = max(s + 1, int(round(s * ratio / 8.0)) * 8)  # multiples of 8
  return tuple(out) + (total,)


def sample(params, cfg: ModelConfig, prompts_PxT, prompt_mask_PxT, rng, *,
           max_new_tokens: int, sampling: Sampling = Sampling(),
           stop_ids: Sequence[int] = (), num_samples: int = 1,
           pad_id: int = 0, cache_dtype=None,
           kv_bucket_ratio: float | None = KV_BUCKET_RATIO,
           kv_bucket_min: int = KV_BUCKET_MIN) -> Completions:
  """Samples `num_samples` completions per left-padded prompt.

  `rng` is one key for the whole batch, or per-row keys `[B]` (B = P * G,
  prompt-major): then row i's tokens depend only on its prompt and its own
  key, not on which other rows share the batch or how it is sharded (the
  evaluator's resumable, device-count-independent samples).
  `kv_bucket_ratio`, `kv_bucket_min`: the decode phases' cache lengths
  (`kv_buckets`); ratio None: every step attends over the whole cache.
  """
  params = decode_params(params, cfg)  # once, outside the decode loop
  p, t = prompts_PxT.shape
  g, m = num_samples, max_new_tokens
  b = p * g
  prompt_mask_PxT = prompt_mask_PxT.astype(jnp.int32)
  lengths_P = prompt_mask_PxT.sum(-1)
  positions_PxT = jnp.maximum(jnp.cumsum(prompt_mask_PxT, -1) - 1, 0)

  # PREFILL: once per prompt, then the cache is shared by its G samples.
  buckets = kv_buckets(t, m, kv_bucket_ratio, kv_bucket_min)
  cache = init_cache(cfg, p, buckets[0], cache_dtype)
  logits, cache = forward_cached(params, cfg, prompts_PxT, positions_PxT,
                                 prompt_mask_PxT, cache, num_logits=1)
  rep = lambda x, axis: jnp.repeat(x, g, axis=axis)  # noqa: E731
  cache = {**cache, "layers": jax.tree.map(lambda x: rep(x, 0),
                                           cache["layers"]),
           "segment_ids": rep(cache["segment_ids"], 0)}
  next_pos_B = rep(lengths_P, 0)
  stop = jnp.asarray(list(stop_ids) or [-1], jnp.int32)

  # DECODE: draw from the last logits, then feed the drawn token.
  def body(s: _State) -> _State:
    tok, lp, lpt = sample_step(s.logits, fold_in(s.rng, s.step), sampling)
    tok = jnp.where(s.done, pad_id, tok)
    write = lambda buf, x: jax.lax.dynamic_update_slice(  # noqa: E731
        buf, x[:, None].astype(buf.dtype), (0, s.step))
    lp, lpt = jnp.where(s.done, 0.0, lp), jnp.where(s.done, 0.0, lpt)
    done = s.done | jnp.isin(tok, stop)
    logits, cache = forward_cached(
        params, cfg, tok[:, None], (next_pos_B + s.step)[:, None],
        jnp.ones((b, 1), jnp.int32), s.cache)
    return _State(s.step + 1, write(s.tokens, tok), write(s.logp, lp),
                  write(s.logp_t, lpt), done, logits[:, -1], cache, s.rng)

  s = _State(
      step=jnp.zeros((), jnp.int32),
      tokens=jnp.full((b, m), pad_id, jnp.int32),
      logp=jnp.zeros((b, m), jnp.float32),
      logp_t=jnp.zeros((b, m), jnp.float32),
      done=jnp.zeros((b,), bool), logits=rep(logits[:, -1], 0),
      cache=cache, rng=rng)
  for slots in buckets:
    # Steps i with t + i < slots, over a cache grown to `slots` (one copy
    # per phase); a phase is skipped once every row is done.
    s = s._replace(cache=_grow(s.cache, slots))
    end = min(slots - t, m)
    s = jax.lax.while_loop(
        lambda s, end=end: (s.step < end) & ~jnp.all(s.done), body, s)

  # OUTPUTS: a row's completion runs up to and including its stop token.
  is_stop = jnp.isin(s.tokens, stop)
  first_stop = jnp.where(is_stop.any(-1), jnp.argmax(is_stop, -1), m)
  steps = jnp.arange(m)[None, :]
  length = jnp.minimum(first_stop + 1, jnp.minimum(s.step, m))
  mask = (steps < length[:, None]).astype(jnp.int32)
  return Completions(
      tokens_BxM=jnp.where(mask > 0, s.tokens, pad_id),
      logp_BxM=s.logp * mask, logp_truncated_BxM=s.logp_t * mask,
      mask_BxM=mask, length_B=length.astype(jnp.int32),
      truncated_B=~is_stop.any(-1))


def _grow(cache, slots: int):
  """The cache with empty slots appended up to `slots` ([B, K, S, H])."""
  seg = cache["segment_ids"]
  extra = slots - seg.shape[1]
  if not extra:
    return cache
  pad = lambda x: jnp.pad(x, [(0, 0), (0, 0), (0, extra), (0, 0)])  # noqa: E731
  return {**cache, "layers": jax.tree.map(pad, cache["layers"]),
          "segment_ids": jnp.pad(seg, [(0, 0), (0, extra)])}


@functools.partial(jax.jit, static_argnames=(
    "cfg", "max_new_tokens", "sampling", "stop_ids", "num_samples", "pad_id",
    "cache_dtype", "kv_bucket_ratio", "kv_bucket_min"))
def jit_sample(params, cfg, prompts_PxT, prompt_mask_PxT, rng, *,
               max_new_tokens, sampling=Sampling(), stop_ids=(),
               num_samples=1, pad_id=0, cache_dtype=None,
               kv_bucket_ratio=KV_BUCKET_RATIO,
               kv_bucket_min=KV_BUCKET_MIN) -> Completions:
  """Compiled `sample`; pad prompts with `left_pad` to reuse compilations."""
  return sample(params, cfg, prompts_PxT, prompt_mask_PxT, rng,
                max_new_tokens=max_new_tokens, sampling=sampling,
                stop_ids=tuple(stop_ids), num_samples=num_samples,
                pad_id=pad_id, cache_dtype=cache_dtype,
                kv_bucket_ratio=kv_bucket_ratio,
                kv_bucket_min=kv_bucket_min)


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int = 0,
             length: int | None = None):
  """(tokens_PxT, mask_PxT) int32 numpy, T = bucketed max prompt length."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  t = length or bucket_length(max(len(x) for x in prompts))
  tokens = np.full((len(prompts), t), pad_id, np.int32)
  mask = np.zeros((len(prompts), t), np.int32)
  for i, x in enumerate(prompts):
    if len(x) > t:
      raise ValueError(f"prompt {i} has {len(x)} tokens > length {t}")
    if x:
      tokens[i, t - len(x):] = x
      mask[i, t - len(x):] = 1
  return tokens, mask
