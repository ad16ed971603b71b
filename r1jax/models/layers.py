"""Transformer layers: RMSNorm, RoPE (with llama3 scaling), attention, MLP.

Shape letters: B batch, T query length, S key length (cache slots), D model
width, N query heads, K kv heads, R = N // K query heads per kv head, H head
dim, F MLP width.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from r1jax.models import attention
from r1jax.sharding import constrain

_init = nn.initializers.normal(stddev=0.02)
_NEG = -1e30  # finite "minus infinity": fully masked rows stay NaN-free


def param(mod: nn.Module, name: str, shape, names, init=_init, dtype=None):
  return mod.param(name, nn.with_logical_partitioning(init, names), shape,
                   dtype or mod.cfg.param_dtype)


class RMSNorm(nn.Module):
  """x / rms(x) * scale, normalised in float32 (as Llama/Qwen2)."""
  cfg: "object"

  @nn.compact
  def __call__(self, x):
    d = x.shape[-1]
    scale = param(self, "scale", (d,), ("norm",), nn.initializers.ones)
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, -1, keepdims=True)
                              + self.cfg.norm_eps)
    scale = scale.reshape((1,) * (x.ndim - 1) + (d,))
    return x32.astype(self.cfg.dtype) * scale.astype(self.cfg.dtype)


def rope_inv_freq(head_dim: int, theta: float, scaling=None) -> np.ndarray:
  """Inverse frequencies; `scaling` = (factor, low, high, original_max_pos).

  The llama3 rule: long wavelengths are divided by `factor`, short ones are
  kept, and the band between is interpolated smoothly.
  """
  inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32)
                          / head_dim))
  if scaling is None:
    return inv.astype(np.float32)
  factor, low, high, orig = scaling
  wavelen = 2 * math.pi / inv
  low_wavelen, high_wavelen = orig / low, orig / high
  scaled = np.where(wavelen > low_wavelen, inv / factor, inv)
  smooth = (orig / wavelen - low) / (high - low)
  smoothed = (1 - smooth) * scaled / factor + smooth * scaled
  medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
  return np.where(medium, smoothed, scaled).astype(np.float32)


def apply_rope(x_BxTxNxH, positions_BxT, inv_freq):
  """Rotary embedding, half-split ("rotate_half") convention as in HF."""
  angles = positions_BxT.astype(jnp.float32)[..., None] * inv_freq[None, None]
  cos = jnp.cos(angles)[:, :, None, :]
  sin = jnp.sin(angles)[:, :, None, :]
  x = x_BxTxNxH.astype(jnp.float32)
  x1, x2 = jnp.split(x, 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
  return out.astype(x_BxTxNxH.dtype)


class Attention(nn.Module):
  """Grouped-query attention over an optional explicit KV cache slice."""
  cfg: "object"

  @nn.compact
  def __call__(self, x_BxTxD, positions_BxT, mask, kv=None,
               cache_index=None):
    """`mask`: an attention.Mask (or dense [B, T, S] bool). `kv`: this
    layer's cache {"k", "v": [B, K, S, H]} or None; the T new
    keys/values are written at slots cache_index.. and returned updated."""
    c = self.cfg
    d, n, k, h = c.embed_dim, c.num_heads, c.num_kv_heads, c.head_dim
    wq = param(self, "q_proj", (d, n, h), ("embed", "heads", "head_dim"))
    wk = param(self, "k_proj", (d, k, h), ("embed", "kv_heads", "head_dim"))
    wv = param(self, "v_proj", (d, k, h), ("embed", "kv_heads", "head_dim"))
    wo = param(self, "o_proj", (n, h, d), ("heads", "head_dim", "embed"))
    x = x_BxTxD.astype(c.dtype)
    q = jnp.einsum("BTD,DNH->BTNH", x, wq.astype(c.dtype))
    key = jnp.einsum("BTD,DKH->BTKH", x, wk.astype(c.dtype))
    val = jnp.einsum("BTD,DKH->BTKH", x, wv.astype(c.dtype))
    if c.qkv_bias:
      zeros = nn.initializers.zeros
      bias = lambda name, m, ax: param(  # pylint: disable=g-long-lambda
          self, name, (m, h), (ax, "head_dim"), zeros).astype(c.dtype)[None,
                                                                       None]
      q = q + bias("q_bias", n, "heads")
      key = key + bias("k_bias", k, "kv_heads")
      val = val + bias("v_bias", k, "kv_heads")
    q = constrain(q, ("act_batch", "act_len", "act_heads", None))
    inv_freq = jnp.asarray(rope_inv_freq(h, c.rope_theta, c.rope_scaling))
    q = apply_rope(q, positions_BxT, inv_freq)
    key = apply_rope(key, positions_BxT, inv_freq)

    if kv is None:  # training / no cache: keys are the T new tokens
      out = attend(q, key, val, mask, "BSKH", c.dtype,
                   impl=c.attention, chunk=c.attention_chunk)
      new_kv = None
    else:
      # In place: each layer's buffer is its own loop-carried array, and
      # attention reads the UPDATED buffer (reading the old one while writing
      # it, or one layer of a stacked [L, ...] cache, made XLA copy the cache
      # every step). (B, K) lead so the read needs no transpose.
      names = ("cache_batch", "cache_heads", "cache_len", None)
      new_kv = {name: constrain(jax.lax.dynamic_update_slice(
          kv[name], new.astype(kv[name].dtype).transpose(0, 2, 1, 3),
          (0, 0, cache_index, 0)), names)
                for name, new in (("k", key), ("v", val))}
      key, val = new_kv["k"], new_kv["v"]
      out = attend(q, key, val, mask, "BKSH", c.dtype,
                   impl=c.attention, chunk=c.attention_chunk)
    out = constrain(out, ("act_batch", "act_len", "act_heads", None))
    # One (N*H) contraction: with two contracting dims XLA:CPU transposed
    # o_proj to (H, N, D) on every decode step.
    b, t = out.shape[:2]
    wo_flat = wo.astype(c.dtype).reshape(n * h, d)
    return out.reshape(b, t, n * h) @ wo_flat, new_kv


def attend(q_BxTxNxH, key, val, mask, kv_layout: str, dtype,
           impl: str = "xla", chunk: int = 512):
  """Grouped-query softmax attention -> [B, T, N, H].

  `kv_layout` is "BSKH" (keys of the new tokens) or "BKSH" (the cache). One
  query token (decode) over the cache is a multiply-reduce rather than a
  batched matmul: it reads each cached key once, and on CPU a [R, H] x
  [H, S] dot per (row, kv head) made XLA transpose the whole cache first.
  """
  b, t, n, h = q_BxTxNxH.shape
  k = key.shape[kv_layout.index("K")]
  q_BxTxKxRxH = q_BxTxNxH.reshape(b, t, k, n // k, h)
  if t == 1 and kv_layout == "BKSH":
    return attend_decode(q_BxTxKxRxH[:, 0], key, val,
                         attention.dense(mask)[:, 0], dtype).reshape(b, 1, n,
                                                                    h)
  # T > 1 (training, prefill): the implementation config.model.attention
  # names (models/attention.py; "xla" is the full-scores reference).
  return attention.attend(impl, chunk, q_BxTxNxH, key, val, mask, kv_layout,
                          dtype)


def attend_decode(q_BxKxRxH, k_BxKxSxH, v_BxKxSxH, mask_BxS, dtype):
  """One query token per row over the cache -> [B, K, R, H], float32 math.

  A multiply-reduce rather than a batched matmul: it reads each cached key
  once, and on CPU a [R, H] x [H, S] dot per (row, kv head) made XLA
  transpose the whole cache first.
  """
  f32 = jnp.float32
  scale = 1.0 / math.sqrt(q_BxKxRxH.shape[-1])
  q_BxKxRx1xH = q_BxKxRxH[:, :, :, None].astype(f32)
  logits_BxKxRxS = jnp.sum(q_BxKxRx1xH * k_BxKxSxH[:, :, None].astype(f32),
                           -1)
  logits_BxKxRxS = jnp.where(mask_BxS[:, None, None], logits_BxKxRxS * scale,
                             _NEG)
  probs = jax.nn.softmax(logits_BxKxRxS, axis=-1)
  out = jnp.sum(probs[..., None] * v_BxKxSxH[:, :, None].astype(f32), -2)
  return out.astype(dtype)


class Mlp(nn.Module):
  """SwiGLU: down(silu(gate(x)) * up(x))."""
  cfg: "object"

  @nn.compact
  def __call__(self, x_BxTxD):
    c = self.cfg
    d, f = c.embed_dim, c.mlp_dim
    gate = param(self, "gate_proj", (d, f), ("embed", "mlp"))
    up = param(self, "up_proj", (d, f), ("embed", "mlp"))
    down = param(self, "down_proj", (f, d), ("mlp", "embed"))
    x = x_BxTxD.astype(c.dtype)
    h_BxTxF = (jax.nn.silu(x @ gate.astype(c.dtype))
               * (x @ up.astype(c.dtype)))
    h_BxTxF = constrain(h_BxTxF, ("act_batch", "act_len", "act_mlp"))
    return h_BxTxF @ down.astype(c.dtype)
