"""Next-token strategies: greedy, temperature, top-k, top-p, min-p.

Log-probabilities: `sample` returns log softmax(logits / temperature) at the
drawn token, i.e. under the temperature-scaled distribution BEFORE top-k /
top-p / min-p truncation (greedy: temperature 1). That is the quantity a
learner recomputes from a forward pass, so GRPO ratios start at exactly 1.
With truncation the draw itself comes from the renormalised truncated
distribution; the difference is visible as `logp_truncated` and must be
importance-corrected if used for training (DESIGN.md conventions).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

_NEG = -1e30


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampling:
  """How to pick the next token. temperature 0 (or greedy=True) = argmax."""
  temperature: float = 1.0
  top_k: int = 0  # 0: off
  top_p: float = 1.0  # 1.0: off
  min_p: float = 0.0  # 0.0: off
  greedy: bool = False

  def __post_init__(self):
    if self.temperature < 0:
      raise ValueError(f"temperature={self.temperature} must be >= 0")
    if not 0.0 < self.top_p <= 1.0:
      raise ValueError(f"top_p={self.top_p} must be in (0, 1]")
    if not 0.0 <= self.min_p < 1.0:
      raise ValueError(f"min_p={self.min_p} must be in [0, 1)")
    if self.top_k < 0:
      raise ValueError(f"top_k={self.top_k} must be >= 0")

  @property
  def is_greedy(self) -> bool:
    return self.greedy or self.temperature == 0.0


def truncation_mask(logits_BxV, s: Sampling):
  """Boolean [B, V]: tokens top-k, top-p and min-p keep (of scaled logits)."""
  keep = jnp.ones(logits_BxV.shape, bool)
  if s.top_k:
    kth = jax.lax.top_k(logits_BxV, s.top_k)[0][:, -1:]
    keep &= logits_BxV >= kth
  probs = jax.nn.softmax(logits_BxV, -1)
  if s.top_p < 1.0:
    # Keep the smallest set of most likely tokens whose mass reaches top_p:
    # a token stays if the mass strictly before it (in sorted order) < top_p.
    order = jnp.argsort(-logits_BxV, axis=-1)
    sorted_p = jnp.take_along_axis(probs, order, -1)
    before = jnp.cumsum(sorted_p, -1) - sorted_p
    keep_sorted = before < s.top_p
    inv = jnp.argsort(order, axis=-1)
    keep &= jnp.take_along_axis(keep_sorted, inv, -1)
  if s.min_p > 0.0:
    keep &= probs >= s.min_p * probs.max(-1, keepdims=True)
  return keep


def sample(logits_BxV, rng, s: Sampling):
  """(tokens_B int32, logp_B, logp_truncated_B) for one step."""
  logits_BxV = logits_BxV.astype(jnp.float32)
  if s.is_greedy:
    tok = jnp.argmax(logits_BxV, -1).astype(jnp.int32)
    logp = jax.nn.log_softmax(logits_BxV, -1)
    lp = jnp.take_along_axis(logp, tok[:, None], -1)[:, 0]
    return tok, lp, lp
  scaled = logits_BxV / s.temperature
  logp = jax.nn.log_softmax(scaled, -1)
  truncating = s.top_k or s.top_p < 1.0 or s.min_p > 0.0
  logp_t = (jax.nn.log_softmax(jnp.where(truncation_mask(scaled, s), scaled,
                                         _NEG), -1)
            if truncating else logp)
  tok = _inverse_cdf(logp_t, rng)
  pick = lambda x: jnp.take_along_axis(x, tok[:, None], -1)[:, 0]  # noqa: E731
  return tok, pick(logp), pick(logp_t)


def _inverse_cdf(logp_BxV, rng):
  """One uniform per row against the cumulative distribution.

  Exact for the categorical distribution and much cheaper on CPU than the
  Gumbel trick, which needs V random numbers per row.
  """
  cdf_BxV = jnp.cumsum(jnp.exp(logp_BxV), -1)
  u_B = 1.0 - jax.random.uniform(rng, logp_BxV.shape[:1])  # in (0, 1]
  tok = jnp.sum(cdf_BxV < (u_B * cdf_BxV[:, -1])[:, None], -1)
  return jnp.minimum(tok, logp_BxV.shape[-1] - 1).astype(jnp.int32)
