"""Continuous batching == the static sampler, row by row, for the same
per-row keys: more queue entries than slots (refills, ring wrap-around),
mixed prompt lengths, stop ids, per-row budgets, G samples per prompt; and
results independent of queue order, slot count and refill size."""
import flax.linen as nn
import jax
import numpy as np
import pytest

from r1jax.models import get_preset, init_params
from r1jax.sampling import Sampling, continuous, jit_sample, left_pad

CFG = get_preset("tiny")
M = 16  # max new tokens; prompts bucket to T = 16: a ring of S = 32 slots
STOPS = tuple(range(100, 116))  # ~6% of the vocabulary: mixed lengths


@pytest.fixture(scope="module")
def params():
  return nn.unbox(init_params(CFG, jax.random.key(1)))


def _prompts(p, seed=0):
  rs = np.random.RandomState(seed)
  return left_pad([list(rs.randint(3, 100, size=rs.randint(1, 14)))
                   for _ in range(p)])


def _np(out):
  return {k: np.asarray(v) for k, v in out._asdict().items()}


def _assert_same(a, b):
  for k in ("tokens_BxM", "mask_BxM", "length_B", "truncated_B"):
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  for k in ("logp_BxM", "logp_truncated_BxM"):
    np.testing.assert_allclose(a[k], b[k], atol=1e-5, err_msg=k)


@pytest.mark.parametrize("sampling", [Sampling(temperature=1.0, top_p=0.9),
                                      Sampling(greedy=True)])
def test_equals_static_sampler(params, sampling):
  tokens, mask = _prompts(5)
  g = 2 if not sampling.is_greedy else 1
  keys = jax.random.split(jax.random.key(7), 5 * g)
  kw = dict(max_new_tokens=M, sampling=sampling, stop_ids=STOPS,
            num_samples=g, pad_id=0)
  want = _np(jit_sample(params, CFG, tokens, mask, keys, **kw))
  # 3 slots for 10 entries: ~50 steps through a 32-slot ring.
  got = _np(continuous.jit_sample(params, CFG, tokens, mask, keys, slots=3,
                                  refill_rows=2, **kw))
  _assert_same(got, want)
  if not sampling.is_greedy:  # the case exercises early stops and budgets
    assert 0 < want["truncated_B"].sum() < len(keys)


def test_per_row_budgets_are_forced_stops(params):
  tokens, mask = _prompts(9, seed=1)
  keys = jax.random.split(jax.random.key(3), 9)
  budget = np.array([1, 16, 3, 9, 2, 16, 5, 12, 7], np.int32)
  kw = dict(max_new_tokens=M, sampling=Sampling(temperature=0.8, top_k=40),
            stop_ids=STOPS)
  full = _np(jit_sample(params, CFG, tokens, mask, keys, **kw))
  got = _np(continuous.jit_sample(params, CFG, tokens, mask, keys, budget,
                                  slots=4, refill_rows=1, **kw))
  # The static rows cut at each budget: a stop inside it ends the row as
  # before, else the row ends at the budget, truncated.
  length = np.minimum(full["length_B"], budget)
  cut = np.arange(M)[None] < length[:, None]
  want = dict(
      tokens_BxM=np.where(cut, full["tokens_BxM"], 0), mask_BxM=cut * 1,
      length_B=length,
      truncated_B=full["truncated_B"] | (full["length_B"] > budget),
      logp_BxM=full["logp_BxM"] * cut,
      logp_truncated_BxM=full["logp_truncated_BxM"] * cut)
  _assert_same(got, want)
  assert (full["length_B"] > budget).any() and (
      full["length_B"] < budget).any()


def test_independent_of_queue_order_slots_and_refill_size(params):
  tokens, mask = _prompts(12, seed=2)
  keys = jax.random.split(jax.random.key(5), 12)
  kw = dict(max_new_tokens=M, sampling=Sampling(temperature=1.0),
            stop_ids=STOPS)
  base = _np(continuous.jit_sample(params, CFG, tokens, mask, keys, slots=4,
                                   refill_rows=2, **kw))
  perm = np.random.RandomState(0).permutation(12)
  got = _np(continuous.jit_sample(params, CFG, tokens[perm], mask[perm],
                                  keys[perm], slots=5, refill_rows=3, **kw))
  inv = np.argsort(perm)
  _assert_same({k: v[inv] for k, v in got.items()}, base)


def test_rejects_wrong_number_of_keys(params):
  tokens, mask = _prompts(2)
  with pytest.raises(ValueError, match="3 keys for 4 queue entries"):
    continuous.sample(params, CFG, tokens, mask,
                      jax.random.split(jax.random.key(0), 3), slots=2,
                      max_new_tokens=4, num_samples=2)
