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
  """(tokens_B int32, logp_B, logp_truncated_B) for one step.

  The [B, V] work is one exp (unnormalised probabilities) and the draw; the
  log-probs are taken at the drawn token only (scaled logit - logsumexp).
  """
  logits_BxV = logits_BxV.astype(jnp.float32)
  pick = lambda x, tok: jnp.take_along_axis(  # noqa: E731
      x, tok[:, None], -1)[:, 0]
  if s.is_greedy:
    tok = jnp.argmax(logits_BxV, -1).astype(jnp.int32)
    lp = pick(logits_BxV, tok) - jax.nn.logsumexp(logits_BxV, -1)
    return tok, lp, lp
  scaled = logits_BxV / s.temperature
  top_B = jnp.max(scaled, -1)
  weights_BxV = jnp.exp(scaled - top_B[:, None])  # in (0, 1], max 1
  log_z = top_B + jnp.log(jnp.sum(weights_BxV, -1))
  if s.top_k or s.top_p < 1.0 or s.min_p > 0.0:
    weights_BxV = jnp.where(truncation_mask(scaled, s), weights_BxV, 0.0)
    log_z_t = top_B + jnp.log(jnp.sum(weights_BxV, -1))
  else:
    log_z_t = log_z
  tok = _inverse_cdf(weights_BxV, rng)
  logit = pick(scaled, tok)
  return tok, logit - log_z, logit - log_z_t


# Vocabularies above this size are drawn in two levels (block, then token in
# the block): a [B, V] cumsum costs ~4 ms per step on a 2-core CPU at
# V = 32000, block sums + two short cumsums ~0.5 ms.
TWO_LEVEL_MIN_VOCAB = 4096
_BLOCK = 256


def _inverse_cdf(weights_BxV, rng, block: int | None = None):
  """Exact categorical draw by inverse CDF over unnormalised weights >= 0.

  Much cheaper on CPU than the Gumbel trick, which needs V random numbers per
  row. `block` (default: `_BLOCK` when V > TWO_LEVEL_MIN_VOCAB, else one
  level) draws a block of `block` tokens with probability its mass, then a
  token inside it with a second uniform; P(block) P(token | block) is the
  same distribution. Zero-mass tokens and blocks are never drawn: the target
  lies in (0, total] and a flat stretch of a CDF holds no `cdf < target`
  boundary.
  """
  b, v = weights_BxV.shape
  if block is None:
    block = _BLOCK if v > TWO_LEVEL_MIN_VOCAB else 0
  if not block or block >= v:
    return _draw(weights_BxV, rng)
  nb = -(-v // block)
  w_BxNxC = jnp.pad(weights_BxV, ((0, 0), (0, nb * block - v))).reshape(
      b, nb, block)
  rng_block, rng_token = split2(rng)
  blk_B = _draw(w_BxNxC.sum(-1), rng_block)
  inner_BxC = jnp.take_along_axis(w_BxNxC, blk_B[:, None, None], 1)[:, 0]
  tok = blk_B * block + _draw(inner_BxC, rng_token)
  return jnp.minimum(tok, v - 1).astype(jnp.int32)


def per_row(rng) -> bool:
  """True for per-row keys (a [B] array of typed keys, jax.random.key),
  False for one key (typed, or a raw uint32 PRNGKey)."""
  return (jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key)
          and rng.ndim == 1)


def fold_in(rng, data):
  """jax.random.fold_in of one key or of each of per-row keys."""
  if per_row(rng):
    return jax.vmap(jax.random.fold_in, (0, None))(rng, data)
  return jax.random.fold_in(rng, data)


def split2(rng):
  """Two independent keys (or per-row key arrays) from one."""
  if per_row(rng):
    a, b = jax.vmap(jax.random.split, out_axes=1)(rng)
    return a, b
  return tuple(jax.random.split(rng))


def uniform_B(rng, b: int):
  """[B] uniforms in [0, 1): from one key, or one per row from per-row keys
  (row i's number then depends on its own key only, not on the batch)."""
  if per_row(rng):
    if rng.shape[0] != b:
      raise ValueError(f"{rng.shape[0]} per-row keys for {b} rows")
    return jax.vmap(lambda k: jax.random.uniform(k, ()))(rng)
  return jax.random.uniform(rng, (b,))


def _draw(weights_BxV, rng):
  """Index of the first CDF entry >= u * total, u uniform in (0, 1]."""
  cdf_BxV = jnp.cumsum(weights_BxV, -1)
  u_B = 1.0 - uniform_B(rng, weights_BxV.shape[0])  # in (0, 1]
  tok = jnp.sum(cdf_BxV < (u_B * cdf_BxV[:, -1])[:, None], -1)
  return jnp.minimum(tok, weights_BxV.shape[-1] - 1).astype(jnp.int32)
