"""pass@1, pass@k, cons@k and best@k against brute-force references."""
import itertools
import math

import numpy as np
import pytest

from r1jax import evaluation as ev
from r1jax.evaluation import passk


def _brute_pass_at_k(n, c, k):
  """Fraction of k-subsets of n samples (c correct) with a correct one."""
  samples = [True] * c + [False] * (n - c)
  subsets = list(itertools.combinations(samples, k))
  return sum(any(s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_enumeration():
  for n in range(1, 8):
    for c in range(n + 1):
      for k in range(1, n + 1):
        assert ev.pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c,
                                                                       k))
  got = ev.pass_at_k(6, np.array([0, 2, 6]), 3)
  np.testing.assert_allclose(got, [_brute_pass_at_k(6, c, 3) for c in
                                   (0, 2, 6)])
  with pytest.raises(ValueError, match='k <= n'):
    ev.pass_at_k(3, 1, 4)


def test_mean_pass_at_k_and_best_at_k():
  rng = np.random.default_rng(0)
  correct_PxK = rng.random((9, 6)) < 0.3
  per_P = [_brute_pass_at_k(6, int(c), 2) for c in correct_PxK.sum(1)]
  mean, stderr = ev.mean_pass_at_k(correct_PxK, 2)
  assert mean == pytest.approx(np.mean(per_P))
  assert stderr == pytest.approx(np.std(per_P, ddof=1) / 3)
  assert ev.best_at_k(correct_PxK)[0] == pytest.approx(
      ev.mean_pass_at_k(correct_PxK, 6)[0])
  assert ev.mean_pass_at_k(correct_PxK, 1)[0] == pytest.approx(
      ev.pass_at_1(correct_PxK)[0])


def test_pass_at_1_mean_and_stderr():
  rng = np.random.default_rng(1)
  correct_PxK = rng.random((30, 16)) < rng.random((30, 1))
  mean, stderr = ev.pass_at_1(correct_PxK)
  per_P = correct_PxK.mean(1)
  assert mean == pytest.approx(per_P.mean())
  assert stderr == pytest.approx(per_P.std(ddof=1) / math.sqrt(30))
  assert ev.pass_at_1([[1, 0, 1, 1]]) == (0.75, 0.0)
  with pytest.raises(ValueError, match=r'\[P, k\]'):
    ev.pass_at_1([1, 0])


def test_majority_vote_ties_and_none():
  assert ev.majority_vote(['a', 'b', 'b', 'a']) == ('a', 0)
  assert ev.majority_vote([None, 'b', 'a', 'a']) == ('a', 2)
  assert ev.majority_vote([None, None, 'c']) == ('c', 2)
  assert ev.majority_vote([None, None]) == (None, None)
  assert ev.majority_vote([' 3', '3 ', 'x']) == (' 3', 0)
  assert ev.majority_vote(['A', 'b', 'a'], str.lower) == ('A', 0)


def test_cons_at_k():
  answers = [['1', '2', '2', None],  # votes 2: right
             ['5', '6', None, None],  # tie 5/6: first wins, 5 is wrong
             [None, None, None, None],  # no answer: wrong
             ['x', 'X', 'y', 'y']]  # lower(): x ties y, x first: right
  refs = ['2', '6', '0', 'x']
  mean, stderr = ev.cons_at_k(answers, refs, normalize=str.lower)
  assert mean == 0.5
  assert stderr == pytest.approx(np.std([1, 0, 0, 1], ddof=1) / 2)
  # Without lower(), prompt 3 votes 'y' (two votes) and is wrong.
  assert ev.cons_at_k(answers, refs)[0] == 0.25
  seen = []
  checked = ev.cons_at_k(
      answers, refs, correct_fn=lambda a, r: seen.append((a, r)) or a == '5')
  assert checked[0] == 0.25
  assert seen == [('2', '2'), ('5', '6'), ('y', 'x')]
  correct_PxK = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]
  assert ev.cons_at_k(answers, correct_PxK=correct_PxK)[0] == 0.75
  with pytest.raises(ValueError, match='exactly one'):
    ev.cons_at_k(answers)


def test_summarize():
  correct_PxK = np.array([[1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
  answers = [['4', '3', '3', '2'], ['7', '7', '7', None], [None] * 4]
  out = ev.summarize(correct_PxK, answers, ['4', '7', '1'], pass_ks=(1, 2))
  assert out['num_prompts'] == 3 and out['k'] == 4
  assert out['pass@1'] == pytest.approx((0.25 + 0.75) / 3)
  assert out['pass@1_stderr'] == pytest.approx(
      np.std([0.25, 0.75, 0], ddof=1) / math.sqrt(3))
  assert out['best@k'] == pytest.approx(2 / 3)
  assert out['cons@k'] == pytest.approx(1 / 3)  # prompt 0 votes '3'
  assert out['pass@2'] == pytest.approx((0.5 + 1) / 3)
  assert {'best@k_stderr', 'cons@k_stderr', 'pass@2_stderr'} <= set(out)
  no_refs = ev.summarize(correct_PxK, answers)
  assert no_refs['cons@k'] == pytest.approx(1 / 3)
  assert 'cons@k' not in ev.summarize(correct_PxK)


def test_default_ks():
  assert passk.default_ks(1) == [1]
  assert passk.default_ks(64) == [1, 2, 4, 8, 16, 32, 64]
  assert passk.default_ks(6) == [1, 2, 4, 6]
  with pytest.raises(ValueError):
    passk.default_ks(0)
