"""Sampled frequencies match the exact target distribution of each strategy
(numpy re-derivation; total-variation bound far above sampling noise)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.sampling import Sampling, strategies
from r1jax.sampling.strategies import sample

LOGITS = np.log(np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.06, 0.04, 0.02,
                          0.01], np.float64))
N = 200_000


def _target(s: Sampling) -> np.ndarray:
  """Independent numpy derivation of the distribution to draw from."""
  z = LOGITS / s.temperature
  p = np.exp(z - z.max())
  p /= p.sum()
  keep = np.ones_like(p, bool)
  if s.top_k:
    keep &= p >= np.sort(p)[::-1][s.top_k - 1]
  if s.top_p < 1:
    order = np.argsort(-p)
    cum = 0.0
    kept = np.zeros_like(keep)
    for i in order:  # smallest prefix whose mass reaches top_p
      kept[i] = True
      cum += p[i]
      if cum >= s.top_p:
        break
    keep &= kept
  if s.min_p:
    keep &= p >= s.min_p * p.max()
  q = np.where(keep, p, 0.0)
  return q / q.sum()


@pytest.mark.parametrize("s", [
    Sampling(temperature=1.0), Sampling(temperature=0.6),
    Sampling(temperature=1.5), Sampling(temperature=1.0, top_k=3),
    Sampling(temperature=1.0, top_p=0.6), Sampling(temperature=0.6,
                                                   top_p=0.95),
    Sampling(temperature=1.0, min_p=0.3), Sampling(temperature=0.8, top_k=5,
                                                   top_p=0.8, min_p=0.1)])
def test_frequencies_match_target(s):
  logits = np.broadcast_to(LOGITS.astype(np.float32), (N, LOGITS.size))
  tok, logp, _ = jax.jit(lambda l, r: sample(l, r, s))(logits,
                                                       jax.random.key(0))
  freq = np.bincount(np.asarray(tok), minlength=LOGITS.size) / N
  target = _target(s)
  tv = 0.5 * np.abs(freq - target).sum()
  # Expected TV noise ~ sum sqrt(p(1-p)/N)/2 < 0.002; a wrong rule is >0.02.
  assert tv < 0.006, (freq, target)
  assert (freq[target == 0] == 0).all()
  # Reported log-prob: temperature-scaled, untruncated distribution.
  z = LOGITS / s.temperature
  full = z - np.log(np.exp(z).sum())
  np.testing.assert_allclose(np.asarray(logp), full[np.asarray(tok)],
                             atol=1e-5)


def test_greedy_is_argmax():
  logits = np.random.default_rng(0).normal(size=(64, 50)).astype(np.float32)
  tok, _, _ = sample(logits, jax.random.key(0), Sampling(temperature=0.0))
  np.testing.assert_array_equal(tok, logits.argmax(-1))


def test_bad_values_name_the_field():
  with pytest.raises(ValueError, match="top_p"):
    Sampling(top_p=0.0)
  with pytest.raises(ValueError, match="min_p"):
    Sampling(min_p=1.0)


def _sparse_logits(v: int) -> np.ndarray:
  """Mass on a few tokens spread over blocks (incl. the last, partial one);
  every other token has probability exactly 0 after exp underflow."""
  logits = np.full(v, -1e4, np.float32)
  hot = {3: 1.0, 63: 0.5, 64: 2.0, 200: 0.0, 377: 1.5, v - 1: 0.7}
  for i, x in hot.items():
    logits[i] = x
  return logits


@pytest.mark.parametrize("v,block", [(600, 64), (5000, None)])
def test_two_level_draw_matches_target(v, block):
  """Block-then-token draws (vocab 600 in blocks of 64; vocab 5000 through
  `sample`'s default) reproduce the categorical distribution."""
  logits = _sparse_logits(v)
  n = 100_000
  keys = jax.random.split(jax.random.key(0), n)
  if block is None:
    assert v > strategies.TWO_LEVEL_MIN_VOCAB  # the default uses two levels
    draw = lambda r: sample(logits[None], r, Sampling(temperature=1.0))[0]
  else:
    w = np.exp(logits - logits.max())[None]
    draw = lambda r: strategies._inverse_cdf(w, r, block=block)  # pylint: disable=protected-access
  tok = np.asarray(jax.jit(jax.vmap(draw))(keys)).reshape(-1)
  p = np.exp(logits.astype(np.float64) - logits.max())
  p /= p.sum()
  freq = np.bincount(tok, minlength=v) / n
  assert 0.5 * np.abs(freq - p).sum() < 0.01, freq[p > 0]
  assert (freq[p == 0] == 0).all()


@pytest.mark.parametrize("v", [600, 5000])
def test_per_row_keys_draw_the_target(v):
  """Per-row keys ([B] typed keys; the evaluator's draws): one and two
  levels reproduce the categorical distribution, row by row."""
  logits = _sparse_logits(v)
  n = 20_000
  keys = jax.random.split(jax.random.key(1), n)
  tok, _, _ = jax.jit(lambda k, l: sample(
      jnp.broadcast_to(l, (n, v)), k, Sampling(temperature=1.0)))(keys,
                                                                  logits)
  p = np.exp(logits.astype(np.float64) - logits.max())
  p /= p.sum()
  freq = np.bincount(np.asarray(tok), minlength=v) / n
  # 6 outcomes, 20k draws: the total-variation noise is ~0.005.
  assert 0.5 * np.abs(freq - p).sum() < 0.02, freq[p > 0]
  assert (freq[p == 0] == 0).all()
  # A row's draw depends on its key alone.
  one = sample(np.broadcast_to(logits, (3, v)), keys[:3],
               Sampling(temperature=1.0))[0]
  np.testing.assert_array_equal(one, np.asarray(tok)[:3])


def _sorted_rule_mask(logits_BxV, s: Sampling):
  """The sorted reference (the sampler's rule before the sort-free path):
  argsort, cumulative mass, keep while the mass before a token < top_p."""
  keep = jnp.ones(logits_BxV.shape, bool)
  if s.top_k:
    kth = jax.lax.top_k(logits_BxV, s.top_k)[0][:, -1:]
    keep &= logits_BxV >= kth
  probs = jax.nn.softmax(logits_BxV, -1)
  if s.top_p < 1.0:
    order = jnp.argsort(-logits_BxV, axis=-1)  # stable: lower id first
    sorted_p = jnp.take_along_axis(probs, order, -1)
    before = jnp.cumsum(sorted_p, -1) - sorted_p
    inv = jnp.argsort(order, axis=-1)
    keep &= jnp.take_along_axis(before < s.top_p, inv, -1)
  if s.min_p > 0.0:
    keep &= probs >= s.min_p * probs.max(-1, keepdims=True)
  return keep


def _at_top_p_boundary(x_BxV, top_p: float, tol: float) -> np.ndarray:
  """Tokens whose exact (float64) mass before them, in stable sorted order,
  is within `tol` of top_p."""
  x = x_BxV.astype(np.float64)
  p = np.exp(x - x.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  order = np.argsort(-x, -1, kind="stable")
  sp = np.take_along_axis(p, order, -1)
  before = np.empty_like(p)
  np.put_along_axis(before, order, np.cumsum(sp, -1) - sp, -1)
  return np.abs(before - top_p) < tol


def _logit_rows(v: int) -> np.ndarray:
  """Peaked, moderate, near-flat and exactly flat rows, and rows with many
  exact ties (integer logits), so the nucleus holds 1 to all tokens."""
  rng = np.random.default_rng(v)
  z = rng.normal(size=(4, v))
  return np.concatenate([
      z * 8, z * 2, z * 0.5, z * 0.01, np.zeros((1, v)),
      np.round(z * 1.5), np.round(z * 4)[:, ::-1], -np.arange(v)[None] * 0.3,
  ]).astype(np.float32)


@pytest.mark.parametrize("fast_k", [64, 1])
@pytest.mark.parametrize("v", [50, 700])
def test_sort_free_truncation_equals_sorted_rule(monkeypatch, fast_k, v):
  """top-p / top-k / min-p without a full sort keep exactly the tokens the
  sorted rule keeps, ties (by lower id) included: with the default top-K
  fast path (V = 50 fits in it; V = 700 mixes both paths) and with
  TOP_P_FAST_K = 1 (the exact threshold search for almost every row)."""
  monkeypatch.setattr(strategies, "TOP_P_FAST_K", fast_k)
  rows = _logit_rows(v)
  peaked = rows[:4]  # every nucleus inside the top 64: the fast path alone
  settings = [Sampling(top_p=1e-6), Sampling(top_p=0.3),
              Sampling(top_p=0.9), Sampling(top_p=0.999),
              Sampling(top_p=0.99999), Sampling(top_p=0.8, top_k=5),
              Sampling(top_p=0.95, min_p=0.05)]
  # One program per rule and input (every setting in it): compiling each
  # setting alone made this the slowest sampling test.
  each = lambda rule: jax.jit(lambda x: [rule(x, s) for s in settings])
  ours, sorted_rule = each(strategies.truncation_mask), each(
      _sorted_rule_mask)
  kept = [np.asarray(m).sum(-1) for m in ours(rows)]
  for x in (rows, peaked):
    for s, got, want in zip(settings, ours(x), sorted_rule(x)):
      got, want = np.asarray(got), np.asarray(want)
      # Float32 sums in another order may only flip tokens whose mass
      # before them (float64, sorted order) is within 1e-5 of top_p.
      bad = (got != want) & ~_at_top_p_boundary(x, s.top_p, 1e-5)
      assert not bad.any(), (s, fast_k, np.nonzero(bad), got.sum(-1),
                             want.sum(-1))
  # The kept sets range from one token to the whole vocabulary.
  assert kept[0].min() == 1 and kept[4].max() == v
