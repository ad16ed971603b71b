"""Continuous batching: B cache slots fed from a queue of N prompts.

`sample` decodes a queue of N left-padded prompts with B < N cache rows
("slots") in ONE compiled `lax.while_loop`: when a slot's row stops (a stop
id, or its own token budget), the next waiting prompt is prefilled into that
slot inside the loop, so no slot idles while a static batch waits for its
longest row. Row i draws its step t from fold_in(key_i, t) with its own key,
exactly as `sampler.sample` with per-row keys does, so its completion does
not depend on which slot it ran in, when, or beside which rows; completions
come back in queue order as `sampler.Completions`.

Cache layout: a ring of S = T + M slots per row and ONE write slot for all
rows, w = step % S (`Block` writes a step's keys/values at one slot index).
A refill prefills R queued prompts into a fresh [R, T] cache and scatters
their keys/values into the T ring slots just before w (the slots its M
decode steps will not reach), with every other slot of that row cleared
(segment 0). Decode attention masks by segment only: causality holds
because a row's slots only ever hold its own earlier tokens, RoPE positions
are explicit, and softmax attention does not depend on key order.

Refills come R rows at a time (`refill_rows`), repeated at the start of a
step while slots are free and prompts wait, so a refill costs an [R, T]
prefill rather than a full-batch one.

Letters: N queue entries (prompts x samples), B slots, R refill rows, T
prompt length, M max new tokens, S = T + M ring slots, V vocab.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from r1jax.models.transformer import (ModelConfig, cached_layers,
                                      decode_params, forward_cached,
                                      init_cache, output_logits)
from r1jax.sampling.sampler import Completions
from r1jax.sampling.strategies import Sampling, sample as sample_step


class _State(NamedTuple):
  step: jax.Array  # global decode step; the write slot is step % S
  next_q: jax.Array  # the first queue entry not yet in a slot
  q_B: jax.Array  # queue entry in each slot; N = free
  t_B: jax.Array  # the slot's row's own completion step
  pos_B: jax.Array  # RoPE position of the row's next token
  logits_BxV: jax.Array  # next-token logits of each slot
  cache: dict  # per-layer {"k", "v": [B, K, S, H]}, "segment_ids" [B, S]
  tokens_NxM: jax.Array
  logp_NxM: jax.Array
  logp_t_NxM: jax.Array
  length_N: jax.Array
  stopped_N: jax.Array


def _decode(params, cfg: ModelConfig, tok_B, pos_B, seg_B, cache, w):
  """One token per row written at ring slot w; -> (logits_BxV, cache).

  A row attends to every slot of its own with a non-zero segment (its
  prompt and earlier tokens, all of them before it in time)."""
  seg_BxS = jax.lax.dynamic_update_slice(cache["segment_ids"],
                                         seg_B[:, None], (0, w))
  mask_Bx1xS = (seg_BxS != 0)[:, None, :]
  x, new_layers = cached_layers(params, cfg, tok_B[:, None], pos_B[:, None],
                                mask_Bx1xS, cache["layers"], w)
  logits = output_logits(params, cfg, x)[:, 0]
  return logits, {"layers": new_layers, "segment_ids": seg_BxS}


def sample(params, cfg: ModelConfig, prompts_NxT, prompt_mask_NxT, keys_N, *,
           slots: int, max_new_tokens: int, budget_N=None,
           sampling: Sampling = Sampling(), stop_ids: Sequence[int] = (),
           num_samples: int = 1, pad_id: int = 0, cache_dtype=None,
           refill_rows: int = 0) -> Completions:
  """Samples the queue with `slots` cache rows; -> Completions in queue order.

  `prompts_NxT` are left-padded (P prompts; with `num_samples` G > 1 each is
  queued G times, prompt-major, N = P * G). `keys_N`: one typed key per
  queue entry (`jax.random.key`), the static sampler's per-row keys; a
  single key is split into N (then the draws differ from the static
  sampler's, which folds one key for the whole batch). `budget_N`: int
  tokens per entry in [1, max_new_tokens] (default: max_new_tokens), a
  forced stop that counts as truncated unless its last token is a stop id.
  `refill_rows` R: prompts prefilled per refill (0: max(1, slots // 8)).
  """
  params = decode_params(params, cfg)  # once, outside the decode loop
  p, t = prompts_NxT.shape
  g, m, b = num_samples, max_new_tokens, slots
  n = p * g
  r = min(refill_rows or max(1, b // 8), b)
  s_len = t + m
  if b < 1 or m < 1:
    raise ValueError(f"slots={b} and max_new_tokens={m} must be >= 1")
  prompts_NxT = jnp.repeat(prompts_NxT.astype(jnp.int32), g, axis=0)
  mask_NxT = jnp.repeat(prompt_mask_NxT.astype(jnp.int32), g, axis=0)
  if not jax.dtypes.issubdtype(keys_N.dtype, jax.dtypes.prng_key):
    raise ValueError("keys_N must be typed keys (jax.random.key)")
  if keys_N.ndim == 0:
    keys_N = jax.random.split(keys_N, n)
  if keys_N.shape != (n,):
    raise ValueError(f"{keys_N.shape[0]} keys for {n} queue entries "
                     f"({p} prompts x num_samples={g})")
  budget_N = (jnp.full((n,), m, jnp.int32) if budget_N is None
              else jnp.clip(jnp.asarray(budget_N, jnp.int32), 1, m))
  stop = jnp.asarray(list(stop_ids) or [-1], jnp.int32)
  cache = init_cache(cfg, b, s_len, cache_dtype)
  cache = {"layers": cache["layers"], "segment_ids": cache["segment_ids"]}

  # REFILL: the first R free slots take the next R waiting entries.
  def refill(s: _State) -> _State:
    w = s.step % s_len
    slot_R = jnp.nonzero(s.q_B >= n, size=r, fill_value=b)[0]
    q_R = s.next_q + jnp.arange(r, dtype=jnp.int32)
    take_R = (slot_R < b) & (q_R < n)
    slot_R = jnp.where(take_R, slot_R, b)  # b: dropped by the scatters
    q_R = jnp.minimum(q_R, n - 1)
    pmask_RxT = mask_NxT[q_R]
    positions_RxT = jnp.maximum(jnp.cumsum(pmask_RxT, -1) - 1, 0)
    logits_Rx1xV, fresh = forward_cached(
        params, cfg, prompts_NxT[q_R], positions_RxT, pmask_RxT,
        init_cache(cfg, r, t, cache_dtype), num_logits=1)
    ring_T = (w - t + jnp.arange(t, dtype=jnp.int32)) % s_len

    def put(buf_BxKxSxH, new_RxKxTxH):
      return buf_BxKxSxH.at[slot_R[:, None], :, ring_T[None, :]].set(
          new_RxKxTxH.transpose(0, 2, 1, 3), mode="drop")

    new_layers = tuple({"k": put(kv["k"], f["k"]), "v": put(kv["v"], f["v"])}
                       for kv, f in zip(s.cache["layers"], fresh["layers"]))
    seg_RxS = jnp.zeros((r, s_len), jnp.int32).at[:, ring_T].set(pmask_RxT)
    seg = s.cache["segment_ids"].at[slot_R].set(seg_RxS, mode="drop")
    at = lambda x, v: x.at[slot_R].set(v, mode="drop")  # noqa: E731
    return s._replace(
        next_q=s.next_q + take_R.sum(dtype=jnp.int32),
        q_B=at(s.q_B, q_R), t_B=at(s.t_B, 0),
        pos_B=at(s.pos_B, pmask_RxT.sum(-1)),
        logits_BxV=at(s.logits_BxV, logits_Rx1xV[:, 0]),
        cache={"layers": new_layers, "segment_ids": seg})

  def can_refill(s: _State):
    return jnp.any(s.q_B >= n) & (s.next_q < n)

  # DECODE: draw each busy slot's next token, record it at its queue
  # entry, then feed it (every slot writes at the same ring slot).
  def body(s: _State) -> _State:
    s = jax.lax.while_loop(can_refill, refill, s)
    busy_B = s.q_B < n
    q_B = jnp.minimum(s.q_B, n - 1)
    keys_B = jax.vmap(jax.random.fold_in)(keys_N[q_B], s.t_B)
    tok, lp, lpt = sample_step(s.logits_BxV, keys_B, sampling)
    at_q = jnp.where(busy_B, s.q_B, n)  # n: dropped
    write = lambda buf, x: buf.at[at_q, s.t_B].set(  # noqa: E731
        x.astype(buf.dtype), mode="drop")
    stop_B = jnp.isin(tok, stop)
    end_B = busy_B & (stop_B | (s.t_B + 1 >= budget_N[q_B]))
    at_end = jnp.where(end_B, s.q_B, n)
    logits, cache = _decode(params, cfg, tok, s.pos_B,
                            (busy_B & ~end_B).astype(jnp.int32), s.cache,
                            s.step % s_len)
    inc = busy_B.astype(jnp.int32)
    return s._replace(
        step=s.step + 1, q_B=jnp.where(end_B, n, s.q_B),
        t_B=s.t_B + inc, pos_B=s.pos_B + inc, logits_BxV=logits,
        cache=cache, tokens_NxM=write(s.tokens_NxM, tok),
        logp_NxM=write(s.logp_NxM, lp), logp_t_NxM=write(s.logp_t_NxM, lpt),
        length_N=s.length_N.at[at_end].set(s.t_B + 1, mode="drop"),
        stopped_N=s.stopped_N.at[at_end].set(stop_B, mode="drop"))

  def cond(s: _State):
    return jnp.any(s.q_B < n) | (s.next_q < n)

  zeros = lambda dtype: jnp.zeros((n, m), dtype)  # noqa: E731
  init = _State(
      step=jnp.zeros((), jnp.int32), next_q=jnp.zeros((), jnp.int32),
      q_B=jnp.full((b,), n, jnp.int32), t_B=jnp.zeros((b,), jnp.int32),
      pos_B=jnp.zeros((b,), jnp.int32),
      logits_BxV=jnp.zeros((b, cfg.vocab_size), jnp.float32), cache=cache,
      tokens_NxM=jnp.full((n, m), pad_id, jnp.int32),
      logp_NxM=zeros(jnp.float32), logp_t_NxM=zeros(jnp.float32),
      length_N=jnp.zeros((n,), jnp.int32),
      stopped_N=jnp.zeros((n,), bool))
  s = jax.lax.while_loop(cond, body, init)

  # OUTPUTS: each entry's tokens up to and including its last one.
  mask = (jnp.arange(m)[None, :] < s.length_N[:, None]).astype(jnp.int32)
  return Completions(
      tokens_BxM=jnp.where(mask > 0, s.tokens_NxM, pad_id),
      logp_BxM=s.logp_NxM * mask, logp_truncated_BxM=s.logp_t_NxM * mask,
      mask_BxM=mask, length_B=s.length_N, truncated_B=~s.stopped_N)


@functools.partial(jax.jit, static_argnames=(
    "cfg", "slots", "max_new_tokens", "sampling", "stop_ids", "num_samples",
    "pad_id", "cache_dtype", "refill_rows"))
def jit_sample(params, cfg, prompts_NxT, prompt_mask_NxT, keys_N,
               budget_N=None, *, slots, max_new_tokens, sampling=Sampling(),
               stop_ids=(), num_samples=1, pad_id=0, cache_dtype=None,
               refill_rows=0) -> Completions:
  """Compiled `sample`."""
  return sample(params, cfg, prompts_NxT, prompt_mask_NxT, keys_N,
                slots=slots, max_new_tokens=max_new_tokens,
                budget_N=budget_N, sampling=sampling,
                stop_ids=tuple(stop_ids), num_samples=num_samples,
                pad_id=pad_id, cache_dtype=cache_dtype,
                refill_rows=refill_rows)
