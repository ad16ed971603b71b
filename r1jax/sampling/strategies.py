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
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from r1jax import sharding

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


# top-p looks for its kept set among the top TOP_P_FAST_K tokens first (one
# lax.top_k); only when some row's nucleus is larger does it run the exact
# threshold search. A full argsort of [32, 32000] logits took ~0.8 s on a
# 2-core CPU (per decode step); top_k(64) ~2 ms, the search ~10 ms.
TOP_P_FAST_K = 64


def truncation_mask(logits_BxV, s: Sampling):
  """Boolean [B, V]: tokens top-k, top-p and min-p keep (of scaled logits).

  top-p keeps the smallest set of most likely tokens whose mass reaches
  top_p: in the order of decreasing logits, ties broken by lower token id
  first (a stable sort), a token stays if the mass strictly before it is
  < top_p. Computed without sorting the vocabulary (`_top_p_mask`); equal to
  the sorted rule except where the mass before a token is within float32
  rounding of top_p (the sums are taken in a different order).
  """
  keep = jnp.ones(logits_BxV.shape, bool)
  # -0.0 -> +0.0: a sort compares them equal (ties, by id), top_k and the
  # order keys would put -0.0 first.
  logits_BxV = jnp.where(logits_BxV == 0, 0.0, logits_BxV)
  v = logits_BxV.shape[-1]
  fast_k = min(v, max(s.top_k, TOP_P_FAST_K)) if s.top_p < 1.0 else s.top_k
  # Sorted, ties: lower id first (as a stable sort).
  top_BxK = _top_k(logits_BxV, fast_k) if fast_k else None
  if s.top_k:
    keep &= logits_BxV >= top_BxK[0][:, s.top_k - 1:s.top_k]
  probs = jax.nn.softmax(logits_BxV, -1)
  if s.top_p < 1.0:
    keep &= _top_p_mask(logits_BxV, probs, top_BxK, s.top_p)
  if s.min_p > 0.0:
    keep &= probs >= s.min_p * probs.max(-1, keepdims=True)
  return keep


def _top_p_mask(logits_BxV, probs_BxV, top_BxK, top_p: float):
  """Nucleus membership from the last kept token (value x*, id i*): keep
  x > x*, and x == x* with id <= i*.

  Fast path: the nucleus lies in the top K for every row (the K tokens'
  mass reaches top_p); x*, i* are read off the sorted top K. Otherwise
  `_top_p_threshold` finds them exactly. With a mesh and rules active the
  rows are sharded: the choice is made per device on its own rows (a
  shard_map), since a `lax.cond` on all rows would put an all-reduce in
  every decode step; with a mesh but no rules, both run and each row takes
  its own.
  """
  rules = nn.get_logical_axis_rules()
  if _sharded() and rules:
    spec = sharding.spec_for(logits_BxV.shape, ("act_batch", None), rules,
                             jax.sharding.get_abstract_mesh())
    local = functools.partial(_top_p_rows, top_p=top_p, local=True)
    return jax.shard_map(local, in_specs=(spec,) * 4, out_specs=spec,
                         check_vma=False)(logits_BxV, probs_BxV, *top_BxK)
  return _top_p_rows(logits_BxV, probs_BxV, *top_BxK, top_p=top_p,
                     local=not _sharded())


def _top_p_rows(logits_BxV, probs_BxV, vals_BxK, idx_BxK, *, top_p: float,
                local: bool):
  """`_top_p_mask` on rows that `lax.cond` may branch on together iff
  `local` (one device's rows, or no mesh)."""
  v, k = logits_BxV.shape[-1], vals_BxK.shape[-1]
  p_BxK = jnp.take_along_axis(probs_BxV, idx_BxK, -1)
  cum_BxK = jnp.cumsum(p_BxK, -1)
  n_keep_B = jnp.sum(cum_BxK - p_BxK < top_p, -1)  # >= 1: the first stays
  covered = True if k == v else jnp.all(cum_BxK[:, -1] >= top_p)

  def fast(_):
    last = jnp.maximum(n_keep_B - 1, 0)[:, None]
    return (jnp.take_along_axis(vals_BxK, last, -1)[:, 0],
            jnp.take_along_axis(idx_BxK, last, -1)[:, 0])

  def exact(_):
    return _top_p_threshold(logits_BxV, probs_BxV, top_p, local)

  if covered is True:
    x_B, i_B = fast(None)
  elif not local:
    covered_B = cum_BxK[:, -1] >= top_p
    x_B, i_B = jax.tree.map(lambda a, b: jnp.where(covered_B, a, b),
                            fast(None), exact(None))
  else:
    x_B, i_B = jax.lax.cond(covered, fast, exact, None)
  ids_1xV = jnp.arange(v, dtype=jnp.int32)[None, :]
  x_Bx1 = x_B[:, None]
  return (logits_BxV > x_Bx1) | ((logits_BxV == x_Bx1)
                                 & (ids_1xV <= i_B[:, None]))


def _sharded() -> bool:
  """A mesh is active while tracing: rows may live on several devices."""
  return not jax.sharding.get_abstract_mesh().empty


def _top_k(x_BxV, k: int):
  """lax.top_k, row-local under a mesh: XLA's partitioner all-gathered the
  rows of a batch-sharded top_k (a collective in every decode step), so it
  runs in a shard_map over the rows' mesh axes (act_batch's rule)."""
  rules = nn.get_logical_axis_rules()
  if not _sharded() or not rules:
    return jax.lax.top_k(x_BxV, k)
  mesh = jax.sharding.get_abstract_mesh()
  spec = sharding.spec_for(x_BxV.shape, ("act_batch", None), rules, mesh)
  return jax.shard_map(lambda x: tuple(jax.lax.top_k(x, k)), in_specs=spec,
                       out_specs=(spec, spec), check_vma=False)(x_BxV)


def _order_key(x):
  """uint32 keys ordered as float32 values (-0.0 below +0.0: pass none)."""
  u = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
  sign = jnp.uint32(0x80000000)
  return jnp.where(u & sign, ~u, u | sign)


def _top_p_threshold(logits_BxV, probs_BxV, top_p: float,
                     local: bool = True):
  """(x*, i*) of the last token the sorted top-p rule keeps, without a sort.

  x* is the smallest logit with mass(logits > x*) < top_p: a bisection over
  the 2^32 ordered float32 keys (32 masked sums over [B, V]). Among the ties
  at x*, ids are kept in increasing order while the mass before them stays
  < top_p (one cumsum, only when some row has a tie there).
  """
  key_BxV = _order_key(logits_BxV)
  v = logits_BxV.shape[-1]

  def mass_above(key_B):
    return jnp.sum(jnp.where(key_BxV > key_B[:, None], probs_BxV, 0.0), -1)

  def bisect(_, lo_hi):  # invariant: mass_above(lo) >= top_p > ..(hi)
    lo, hi = lo_hi
    mid = lo + (hi - lo) // 2
    below = mass_above(mid) < top_p
    return jnp.where(below, lo, mid), jnp.where(below, mid, hi)

  lo = key_BxV.min(-1) - 1  # nothing above the minimum is all the mass
  hi = key_BxV.max(-1)
  # lo = min - 1 underflows only for a row of NaN-like keys (never finite).
  _, hi = jax.lax.fori_loop(0, 32, bisect, (lo, hi))
  at_x = key_BxV == hi[:, None]
  x_B = jnp.max(jnp.where(at_x, logits_BxV, -jnp.inf), -1)
  ids_V = jnp.arange(v, dtype=jnp.int32)[None, :]

  def last_tie(_):
    above_B = mass_above(hi)
    tie_p = jnp.where(at_x, probs_BxV, 0.0)
    before = above_B[:, None] + jnp.cumsum(tie_p, -1) - tie_p
    return jnp.max(jnp.where(at_x & (before < top_p), ids_V, -1), -1)

  def only(_):
    return jnp.max(jnp.where(at_x, ids_V, -1), -1)

  if not local:
    i_B = last_tie(None)
  else:
    i_B = jax.lax.cond(jnp.any(jnp.sum(at_x, -1) > 1), last_tie, only, None)
  return x_B, i_B.astype(jnp.int32)


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
