"""Attention for T > 1 queries (training, prefill), chosen by ModelConfig.

  out_BxTxNxH = attention.attend(impl, chunk, q_BxTxNxH, key, val, mask,
                                 kv_layout, dtype)

* "xla": scores [B, K, R, T, S] float32 in one einsum (the reference).
* "dot_product": `jax.nn.dot_product_attention`; cuDNN flash attention on
  GPU for bf16/fp16 (its mask becomes a [B, 1, T, S] bias), XLA otherwise.
* "chunked": online softmax over blocks of `chunk` queries x `chunk` keys
  in pure JAX. Both loops are checkpointed, so the backward keeps only the
  per-query-block running (max, sum, output), never the [T, S] scores; key
  blocks that are fully masked for every row (causal) are skipped.
* "splash": the Pallas TPU splash-attention kernel with causal and
  segment-id masks (training layout; prefill over a cache uses "chunked").
* "auto": per backend at trace time, see `resolve`.

The mask is a `Mask` (its factors: segment ids and slots of the queries
and the keys; what the model passes) or a dense bool [B, T, S] (tests, other
callers). "chunked" and "splash" never build the [B, T, S] mask from a
`Mask` (at 32k tokens it is 1 GiB per row): "chunked" builds one block at a
time, "splash" reads the segment ids. "xla" and "dot_product" build it.
Mask semantics are layers.py's: True = may attend. Rows with no
True (padding queries) come out as zeros ("chunked", "dot_product") or the
mean of the values ("xla"); either way finite, and never read by a loss.
Letters as in layers.py; `kv_layout` "BSKH" (the T new keys) or "BKSH"
(a cache).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from r1jax import sharding as shd

IMPLS = ("auto", "xla", "dot_product", "chunked", "splash")
_NEG = -1e30  # finite "minus infinity", as layers.py
_SPLASH_BLOCK = 128  # the splash kernel's default tile (sequence padded to it)


def attention_mask(q_seg_BxT, k_seg_BxS, q_slot_T, k_slot_S):
  """Causal (by slot) and same-non-padding-segment mask, [B, T, S]."""
  causal_TxS = q_slot_T[:, None] >= k_slot_S[None, :]
  same = q_seg_BxT[:, :, None] == k_seg_BxS[:, None, :]
  return causal_TxS[None] & same & (k_seg_BxS != 0)[:, None, :]


class Mask(NamedTuple):
  """`attention_mask`'s factors (a pytree): query i may attend key j when
  q_slot[i] >= k_slot[j] and q_seg[b, i] == k_seg[b, j] != 0."""
  q_seg_BxT: jax.Array
  k_seg_BxS: jax.Array
  q_slot_T: jax.Array
  k_slot_S: jax.Array

  def dense(self):
    return attention_mask(*self)


def dense(mask):
  """The [B, T, S] bool mask of a `Mask` or of a dense mask."""
  return mask.dense() if isinstance(mask, Mask) else mask


def resolve(impl: str) -> str:
  """"auto" -> the implementation for the default backend.

  GPU: dot_product (cuDNN flash attention). TPU: splash (Pallas kernel).
  CPU: xla, the reference and the path every CPU test and number was made
  with (CPU has neither cuDNN nor Mosaic); "chunked" recomputes the scores
  in its backward, so it trades compute for memory: set it explicitly
  where memory matters.
  """
  if impl not in IMPLS:
    raise ValueError(f"config.model.attention={impl!r}; allowed: {IMPLS}")
  if impl != "auto":
    return impl
  return {"gpu": "dot_product", "tpu": "splash"}.get(jax.default_backend(),
                                                     "xla")


def attend(impl: str, chunk: int, q_BxTxNxH, key, val, mask,
           kv_layout: str, dtype, interpret: bool = False):
  """Grouped-query softmax attention -> [B, T, N, H] in `dtype`; `mask` a
  `Mask` or a dense [B, T, S] bool."""
  impl = resolve(impl)
  if impl == "xla":
    return xla_attention(q_BxTxNxH, key, val, dense(mask), kv_layout, dtype)
  if impl == "dot_product":
    return dot_product_attention(q_BxTxNxH, key, val, dense(mask), kv_layout,
                                 dtype)
  if impl == "splash" and kv_layout == "BSKH":
    return splash_attention(q_BxTxNxH, key, val, mask, dtype,
                            interpret=interpret)
  if impl == "splash" and not interpret and jax.default_backend() != "tpu":
    _no_tpu()
  return chunked_attention(q_BxTxNxH, key, val, mask, kv_layout, dtype,
                           chunk)


def _grouped(q_BxTxNxH, key, kv_layout):
  b, t, n, h = q_BxTxNxH.shape
  k = key.shape[kv_layout.index("K")]
  return q_BxTxNxH.reshape(b, t, k, n // k, h)


def xla_attention(q_BxTxNxH, key, val, mask_BxTxS, kv_layout: str, dtype):
  """Full float32 scores in one einsum; the reference for the others."""
  b, t, n, h = q_BxTxNxH.shape
  q_BxTxKxRxH = _grouped(q_BxTxNxH, key, kv_layout)
  logits = jnp.einsum(f"BTKRH,{kv_layout}->BKRTS", q_BxTxKxRxH,
                      key.astype(dtype),
                      preferred_element_type=jnp.float32) * (
                          1.0 / math.sqrt(h))
  logits = jnp.where(mask_BxTxS[:, None, None], logits, _NEG)
  probs = jax.nn.softmax(logits, axis=-1).astype(dtype)
  out = jnp.einsum(f"BKRTS,{kv_layout}->BTKRH", probs, val.astype(dtype))
  return out.reshape(b, t, n, h)


def dot_product_attention(q_BxTxNxH, key, val, mask_BxTxS, kv_layout: str,
                          dtype):
  """`jax.nn.dot_product_attention`: cuDNN on GPU in bf16/fp16."""
  if kv_layout == "BKSH":
    key, val = key.transpose(0, 2, 1, 3), val.transpose(0, 2, 1, 3)
  half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
  args = (q_BxTxNxH.astype(dtype), key.astype(dtype), val.astype(dtype))
  mask = mask_BxTxS[:, None]
  out = None
  if jax.default_backend() == "gpu" and half:
    try:
      out = jax.nn.dot_product_attention(*args, mask=mask,
                                         implementation="cudnn")
    except (ValueError, NotImplementedError, RuntimeError) as e:
      # cuDNN rejects some shapes / versions while tracing: say so, since
      # the XLA fallback holds the full [B, N, T, S] scores.
      logging.warning("attention='dot_product': cuDNN unavailable (%s); "
                      "using XLA", e)
  if out is None:
    out = jax.nn.dot_product_attention(*args, mask=mask, implementation="xla")
  # Rows with nothing to attend to: zeros (whatever the kernel made of them).
  valid_BxT = jnp.any(mask_BxTxS, axis=-1)
  return jnp.where(valid_BxT[:, :, None, None], out, 0).astype(dtype)


def _pad_to(x, axis: int, size: int, value=0):
  if x.shape[axis] == size:
    return x
  pad = [(0, 0)] * x.ndim
  pad[axis] = (0, size - x.shape[axis])
  return jnp.pad(x, pad, constant_values=value)


def _blocked_mask(mask, b, nq, cq, nk, ck):
  """(live_QxK, block(i, j) -> [B, cq, ck] bool) for the padded blocks.

  live_QxK: the (query block, key block) pairs any row may attend in (one
  reduction here, not one per block in the loop: rows sharded over devices
  would make each a cross-device reduction). From a `Mask` only the
  blocks are built, and liveness is by slot (causal), which may count a
  block whose keys are all another segment's: computed, then masked."""
  if not isinstance(mask, Mask):
    m = _pad_to(_pad_to(mask, 1, nq * cq, False), 2, nk * ck, False)
    live = jnp.any(m.reshape(b, nq, cq, nk, ck), axis=(0, 2, 4))
    return live, lambda i, j: jax.lax.dynamic_slice(
        m, (0, i * cq, j * ck), (b, cq, ck))
  # Padding: segment 0 (never attended); slots that make padded blocks
  # dead (queries before every key, keys after every query).
  q_seg = _pad_to(mask.q_seg_BxT.astype(jnp.int32), 1, nq * cq)
  k_seg = _pad_to(mask.k_seg_BxS.astype(jnp.int32), 1, nk * ck)
  big = jnp.iinfo(jnp.int32).max
  q_slot = _pad_to(mask.q_slot_T.astype(jnp.int32), 0, nq * cq, -1)
  k_slot = _pad_to(mask.k_slot_S.astype(jnp.int32), 0, nk * ck, big)
  live = (q_slot.reshape(nq, cq).max(1)[:, None]
          >= k_slot.reshape(nk, ck).min(1)[None, :])

  def block(i, j):
    sl = jax.lax.dynamic_slice_in_dim
    return attention_mask(sl(q_seg, i * cq, cq, 1), sl(k_seg, j * ck, ck, 1),
                          sl(q_slot, i * cq, cq, 0), sl(k_slot, j * ck, ck, 0))
  return live, block


def chunked_attention(q_BxTxNxH, key, val, mask, kv_layout: str, dtype,
                      chunk: int):
  """Online-softmax attention over (chunk x chunk) blocks; O(T) memory."""
  b, t, n, h = q_BxTxNxH.shape
  s_axis = kv_layout.index("S")
  s = key.shape[s_axis]
  cq, ck = min(chunk, t), min(chunk, s)
  nq, nk = -(-t // cq), -(-s // ck)
  q = _grouped(q_BxTxNxH, key, kv_layout).astype(dtype)
  k, r = q.shape[2:4]
  key = _pad_to(key.astype(dtype), s_axis, nk * ck)
  val = _pad_to(val.astype(dtype), s_axis, nk * ck)
  q = _pad_to(q, 1, nq * cq)
  # Causal: no block above the diagonal is live.
  live_QxK, block_mask = _blocked_mask(mask, b, nq, cq, nk, ck)
  scale = 1.0 / math.sqrt(h)
  f32 = jnp.float32

  def key_block(carry, j, q_BxCxKxRxH, i, live_K):
    m_BxKxRxC, l_BxKxRxC, acc_BxKxRxCxH = carry
    kb = jax.lax.dynamic_slice_in_dim(key, j * ck, ck, axis=s_axis)
    vb = jax.lax.dynamic_slice_in_dim(val, j * ck, ck, axis=s_axis)
    mb_BxCxC = block_mask(i, j)

    def compute(_):
      mb = mb_BxCxC[:, None, None]
      s_ = jnp.einsum(f"BTKRH,{kv_layout}->BKRTS", q_BxCxKxRxH, kb,
                      preferred_element_type=f32) * scale
      s_ = jnp.where(mb, s_, _NEG)
      m_new = jnp.maximum(m_BxKxRxC, s_.max(-1))
      p = jnp.where(mb, jnp.exp(s_ - m_new[..., None]), 0.0)
      corr = jnp.exp(m_BxKxRxC - m_new)
      l_new = l_BxKxRxC * corr + p.sum(-1)
      pv = jnp.einsum(f"BKRTS,{kv_layout}->BKRTH", p.astype(dtype), vb,
                      preferred_element_type=f32)
      return m_new, l_new, acc_BxKxRxCxH * corr[..., None] + pv

    return jax.lax.cond(live_K[j], compute, lambda _: carry, None), None

  @jax.checkpoint
  def query_block(i):
    # Sliced here, not mapped over: no blocked copies of q and the mask.
    q_BxCxKxRxH = jax.lax.dynamic_slice_in_dim(q, i * cq, cq, axis=1)
    init = (jnp.full((b, k, r, cq), _NEG, f32), jnp.zeros((b, k, r, cq), f32),
            jnp.zeros((b, k, r, cq, h), f32))
    body = jax.checkpoint(functools.partial(
        key_block, q_BxCxKxRxH=q_BxCxKxRxH, i=i, live_K=live_QxK[i]))
    (_, l, acc), _ = jax.lax.scan(body, init, jnp.arange(nk))
    out = acc / jnp.where(l > 0, l, 1.0)[..., None]
    return out.astype(dtype).transpose(0, 3, 1, 2, 4)  # [B, cq, K, R, H]

  out = jax.lax.map(query_block, jnp.arange(nq))
  out = jnp.moveaxis(out, 0, 1).reshape(b, nq * cq, n, h)
  return out[:, :t]


def _no_tpu():
  raise ValueError(
      "config.model.attention='splash' runs only on TPU (the Pallas "
      f"splash kernel); this backend is {jax.default_backend()!r}: use "
      "'auto', 'xla', 'dot_product' or 'chunked'")


def _segments(mask_BxTxT):
  """Segment ids equivalent to a causal same-segment self-attention mask:
  a token's id is 1 + the slot of its segment's first token (0: padding)."""
  first_BxT = jnp.argmax(mask_BxTxT, axis=-1).astype(jnp.int32)
  real_BxT = jnp.diagonal(mask_BxTxT, axis1=1, axis2=2)
  return jnp.where(real_BxT, first_BxT + 1, 0)


def splash_attention(q_BxTxNxH, key_BxTxKxH, val_BxTxKxH, mask, dtype,
                     interpret: bool = False):
  """Splash kernel, causal + segment ids (self-attention, T == S; a `Mask`
  there has slots 0..T-1 for both, as the model's training forward)."""
  if not interpret and jax.default_backend() != "tpu":
    _no_tpu()
  # pylint: disable=g-import-not-at-top
  from jax.experimental.pallas.ops.tpu.splash_attention import (
      splash_attention_kernel as sk, splash_attention_mask as sm)
  b, t, n, h = q_BxTxNxH.shape
  tp = -(-t // _SPLASH_BLOCK) * _SPLASH_BLOCK
  # Padding queries (segment 0) attend padding keys here, not in the
  # reference: rows no loss reads, and no real query reads those keys.
  seg_BxT = _pad_to(mask.q_seg_BxT.astype(jnp.int32) if isinstance(mask, Mask)
                    else _segments(mask), 1, tp)

  def heads_first(x):  # [B, T, *, H] -> [B, *, Tp, H]
    return _pad_to(x.astype(dtype), 1, tp).transpose(0, 2, 1, 3)

  q = heads_first(q_BxTxNxH / math.sqrt(h))
  k, v = heads_first(key_BxTxKxH), heads_first(val_BxTxKxH)
  causal = sm.MultiHeadMask([sm.CausalMask((tp, tp))] * n)
  kernel = sk.make_splash_mha(causal, head_shards=1, q_seq_shards=1,
                              interpret=interpret)

  def one(q_NxTxH, k_KxTxH, v_KxTxH, seg_T):
    return kernel(q_NxTxH, k_KxTxH, v_KxTxH,
                  segment_ids=sk.SegmentIds(q=seg_T, kv=seg_T))

  rows = jax.vmap(one)
  # A Pallas call is opaque to the SPMD partitioner (it would gather every
  # operand to every device): run it per device on the local rows.
  rules = nn.get_logical_axis_rules()
  mesh = jax.sharding.get_abstract_mesh()
  if rules and not mesh.empty:
    batch = shd.spec_for((b,), ("act_batch",), rules, mesh)[0]
    spec = P(batch)
    rows = jax.shard_map(rows, in_specs=(spec,) * 4, out_specs=spec,
                         check_vma=False)
  out = rows(q, k, v, seg_BxT)  # [B, N, Tp, H]
  return out.transpose(0, 2, 1, 3)[:, :t].astype(dtype)
