"""Next-token log-probabilities and the SFT loss (float32 throughout)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def token_logp(logits_BxTxV, targets_BxT, temperature: float = 1.0):
  """log softmax(logits / temperature) at targets, [B, T] float32.

  Computed in float32 even for bfloat16 logits: bf16 log-softmax loses
  ~3 digits, which would show up as spurious GRPO ratios != 1.
  """
  z_BxTxV = logits_BxTxV.astype(jnp.float32)
  if temperature != 1.0:
    z_BxTxV = z_BxTxV / temperature
  logp_BxTxV = jax.nn.log_softmax(z_BxTxV, -1)
  return jnp.take_along_axis(logp_BxTxV, targets_BxT[..., None], -1)[..., 0]


def next_token_loss(logits_BxTxV, tokens_BxT, loss_mask_BxT):
  """(nll_sum, token_count, correct_count) summed over trained targets.

  Logits at position t predict tokens[t + 1]; loss_mask_BxT[t] = 1 trains
  that target, so the last column is ignored. Sums, not means, so that the
  caller normalises once over all micro-batches and devices.
  """
  # Shift the targets, not the logits: slicing [B, T, V] would copy it.
  targets_BxT = jnp.concatenate(
      [tokens_BxT[:, 1:], jnp.zeros_like(tokens_BxT[:, :1])], axis=1)
  m_BxT = loss_mask_BxT.astype(bool).at[:, -1].set(False)
  logp_BxT = token_logp(logits_BxTxV, targets_BxT)
  nll_sum = -jnp.where(m_BxT, logp_BxT, 0.0).sum()
  hit_BxT = jnp.argmax(logits_BxTxV, -1) == targets_BxT
  return (nll_sum, m_BxT.sum().astype(jnp.int32),
          (m_BxT & hit_BxT).sum().astype(jnp.int32))
