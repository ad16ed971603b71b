"""Per-token log-prob / entropy / argmax from hidden states, chunk by chunk.

The learner's full-vocabulary logits are [B, M, V] float32 (plus the
log-softmax and the entropy's probabilities of the same size): at M = 32k
and Qwen's V = 152k that is 19 GiB per row. Here the lm head is applied to
`chunk` positions at a time inside a checkpointed `lax.map`, so at most
[B, chunk, V] logits exist in the forward and the backward recomputes each
chunk's logits instead of keeping them. Same math as losses/sft.py and
grpo_step.completion_logp up to float summation order.

Letters: B rows, M positions, D model width, V vocabulary, C chunk.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from r1jax.sharding import constrain


def _to_chunks(x_BxMx, c: int):
  """[B, M, ...] -> [n, B, c, ...], M zero-padded to a multiple of c."""
  b, m = x_BxMx.shape[:2]
  n = -(-m // c)
  pad = [(0, 0)] * x_BxMx.ndim
  pad[1] = (0, n * c - m)
  x = jnp.pad(x_BxMx, pad).reshape(b, n, c, *x_BxMx.shape[2:])
  return jnp.moveaxis(x, 1, 0)


def _from_chunks(y_nxBxC, m: int):
  n, b, c = y_nxBxC.shape
  return jnp.moveaxis(y_nxBxC, 0, 1).reshape(b, n * c)[:, :m]


def token_stats(hidden_BxMxD, head, spec: str, targets_BxM, chunk: int, *,
                dtype, temperature: float = 1.0, entropy: bool = False,
                hits: bool = False) -> dict:
  """{"logp": log softmax(h @ head / temperature)[target], float32 [B, M]}
  plus "entropy" (stop-gradient) and "hit" (argmax == target) if asked.

  `spec` "DV" (lm_head) or "VD" (tied embedding); the head is cast to the
  compute `dtype` and logits accumulate in float32, as Transformer does.
  """
  m = hidden_BxMxD.shape[1]
  c = min(chunk, m)
  head = head.astype(dtype)

  @jax.checkpoint
  def one(xs):
    x_BxCxD, t_BxC = xs
    z_BxCxV = jnp.einsum(f"BTD,{spec}->BTV", x_BxCxD.astype(dtype), head,
                         preferred_element_type=jnp.float32)
    z_BxCxV = constrain(z_BxCxV, ("act_batch", "act_len", "act_vocab"))
    if temperature != 1.0:
      z_BxCxV = z_BxCxV / temperature
    lse_BxC = jax.nn.logsumexp(z_BxCxV, axis=-1)
    z_t = jnp.take_along_axis(z_BxCxV, t_BxC[..., None], -1)[..., 0]
    out = {"logp": z_t - lse_BxC}
    if entropy:
      p_BxCxV = jnp.exp(z_BxCxV - lse_BxC[..., None])
      out["entropy"] = jax.lax.stop_gradient(
          lse_BxC - jnp.sum(p_BxCxV * z_BxCxV, axis=-1))
    if hits:
      out["hit"] = jnp.argmax(z_BxCxV, axis=-1) == t_BxC
    return out

  ys = jax.lax.map(one, (_to_chunks(hidden_BxMxD, c),
                         _to_chunks(targets_BxM, c)))
  return {k: _from_chunks(v, m) for k, v in ys.items()}


def next_token_loss(hidden_BxTxD, head, spec: str, tokens_BxT, loss_mask_BxT,
                    chunk: int, *, dtype):
  """losses/sft.py `next_token_loss` from hidden states, in chunks:
  (nll_sum, token_count, correct_count)."""
  targets_BxT = jnp.concatenate(
      [tokens_BxT[:, 1:], jnp.zeros_like(tokens_BxT[:, :1])], axis=1)
  m_BxT = loss_mask_BxT.astype(bool).at[:, -1].set(False)
  st = token_stats(hidden_BxTxD, head, spec, targets_BxT, chunk, dtype=dtype,
                   hits=True)
  nll_sum = -jnp.where(m_BxT, st["logp"], 0.0).sum()
  return (nll_sum, m_BxT.sum().astype(jnp.int32),
          (m_BxT & st["hit"]).sum().astype(jnp.int32))
