"""Benchmark metrics against direct computations, and the Markdown table."""
import math

import numpy as np
import pytest

from r1jax.evaluation import report
from r1jax.evaluation import scoring


def _records(p, n, seed=0):
  rng = np.random.default_rng(seed)
  correct = rng.random((p, n)) < rng.random((p, 1))
  groups = rng.integers(0, 3, (p, n)).tolist()
  groups[0][0] = None
  lengths = rng.integers(10, 1000, (p, n))
  truncated = rng.random((p, n)) < 0.1
  formatted = rng.random((p, n)) < 0.9
  return correct, groups, lengths, truncated, formatted


def test_pass_at_k_unbiased_and_pass_at_1():
  p, n = 12, 16
  correct, groups, lengths, truncated, formatted = _records(p, n)
  m = report.benchmark_metrics(correct, groups, lengths, truncated,
                               formatted, n=n)
  assert m['n'] == n and m['num_problems'] == p and m['num_samples'] == p * n
  c_P = correct.sum(1)
  for k in (2, 4, 8, 16):
    direct = [1 - math.comb(n - c, k) / math.comb(n, k) for c in c_P]
    assert m[f'pass@{k}'] == pytest.approx(np.mean(direct))
    assert m[f'pass@{k}_stderr'] == pytest.approx(
        np.std(direct, ddof=1) / math.sqrt(p))
  assert 'pass@3' not in m and 'pass@32' not in m
  per_P = correct.mean(1)
  assert m['pass@1'] == pytest.approx(correct.mean())
  assert m['pass@1_stderr'] == pytest.approx(
      np.std(per_P, ddof=1) / math.sqrt(p))
  assert m['truncated'] == pytest.approx(truncated.mean())
  assert m['format'] == pytest.approx(formatted.mean())
  assert m['no_answer'] == pytest.approx(1 / (p * n))
  assert m['length/mean'] == pytest.approx(lengths.mean())
  assert m['length/p90'] == pytest.approx(np.percentile(lengths, 90))
  assert m['length/max'] == lengths.max()
  assert {'length/p50', 'length/p99', f'cons@{n}', f'cons@{n}_stderr'} <= set(m)


def test_pass_at_k_random_c_n_k():
  rng = np.random.default_rng(3)
  for _ in range(30):
    n = int(rng.integers(1, 40))
    c = int(rng.integers(0, n + 1))
    row = [True] * c + [False] * (n - c)
    m = report.benchmark_metrics([row], [[None] * n], [[1] * n], [[0] * n],
                                 [[1] * n], n=n)
    for k in [k for k in (1, 2, 4, 8, 16, 32) if k <= n] + [n]:
      assert m[f'pass@{k}'] == pytest.approx(
          1 - math.comb(n - c, k) / math.comb(n, k)), (n, c, k)
  # Non power of two n: pass@n is reported too.
  m = report.benchmark_metrics([[1] * 6], [[0] * 6], [[1] * 6], [[0] * 6],
                               [[1] * 6], n=6)
  assert {'pass@1', 'pass@2', 'pass@4', 'pass@6', 'cons@6'} <= set(m)


def test_cons_with_tie():
  n = 4
  groups = [[0, 1, 1, 0],  # tie: group 0 came first; its sample 0 wrong
            [None, 0, 1, 1],  # group 1 wins 2:1; its first sample right
            [None] * 4,  # no answer: wrong
            [0, 1, 2, 3]]  # all tie: group 0 (sample 0, right)
  correct = [[0, 1, 1, 0], [0, 0, 1, 0], [0] * 4, [1, 0, 0, 0]]
  ones = [[1] * n] * 4
  m = report.benchmark_metrics(correct, groups, ones, ones, ones, n=n)
  assert m['cons@4'] == 0.5
  assert m['cons@4_stderr'] == pytest.approx(
      np.std([0, 1, 0, 1], ddof=1) / 2)
  assert m['no_answer'] == 5 / 16
  m = report.benchmark_metrics(correct, groups, ones, ones, ones, n=n,
                               correct_vote_P=[1, 1, 1, 1])
  assert m['cons@4'] == 1.0


def test_sample_counts_must_equal_n():
  correct, groups, lengths, truncated, formatted = _records(3, 8)
  short = [list(r) for r in correct]
  short[1] = short[1][:7]
  with pytest.raises(ValueError, match='problem 1 has 7 samples'):
    report.benchmark_metrics(short, groups, lengths, truncated, formatted,
                             n=8)
  # Consistent, but fewer than the n generated (lighteval #771).
  with pytest.raises(ValueError, match='expected n=16'):
    report.benchmark_metrics(correct, groups, lengths, truncated, formatted,
                             n=16)
  with pytest.raises(ValueError, match='lengths_PxN'):
    report.benchmark_metrics(correct, groups, lengths[:, :4], truncated,
                             formatted, n=8)
  with pytest.raises(ValueError, match='expected 30'):
    report.benchmark_metrics(correct, groups, lengths, truncated, formatted,
                             n=8, num_problems=30)


def test_metrics_from_scores():
  S = scoring.Score
  scores = [[S('3', True, True, 'ok'), S(None, False, False, 'no_answer')],
            [S('1', False, True, 'timeout'), S('2', True, True, 'ok')]]
  m = report.metrics_from_scores(scores, [[0, None], [0, 1]],
                                 [[5, 9], [3, 3]], [[0, 1], [0, 0]], n=2)
  assert m['pass@1'] == 0.5 and m['cons@2'] == 0.5
  assert m['format'] == 0.75 and m['truncated'] == 0.25
  assert m['checker/timeout'] == 1 and m['checker/error'] == 0


def test_markdown():
  results = {}
  for name, p, n in (('aime24', 30, 64), ('math500', 5, 16)):
    results[name] = report.benchmark_metrics(*_records(p, n), n=n)
  meta = {'model': 'Qwen2.5-1.5B', 'template': 'r1_chat',
          'temperature': 0.6, 'top_p': 0.95, 'max_new_tokens': 32768,
          'seed': 0, 'devices': 8, 'mesh': {'data': 4, 'model': 2},
          'step': 1200}
  text = report.markdown(results, meta)
  rows = [l for l in text.splitlines() if l.startswith('| ')]
  assert len(rows) == 3  # header and two benchmarks
  m = results['aime24']
  assert rows[1].startswith(
      f"| aime24 | {100 * m['pass@1']:.1f} ± "
      f"{100 * m['pass@1_stderr']:.1f} | {100 * m['cons@64']:.1f} | 64 | "
      '30 | ')
  assert rows[2].startswith('| math500 |') and '| 16 | 5 |' in rows[2]
  settings = next(l for l in text.splitlines() if l.startswith('Settings'))
  for part in ('model Qwen2.5-1.5B', 'template r1_chat', 'temperature 0.6',
               'top-p 0.95', 'max new tokens 32768', 'seed 0', 'devices 8',
               'mesh data=4, model=2', 'step 1200'):
    assert part in settings
