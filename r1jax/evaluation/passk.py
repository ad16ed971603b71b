"""pass@1 over k samples, unbiased pass@k, cons@k (majority vote), best@k.

R1 reports pass@1 as the mean over prompts of the fraction of k sampled
completions that are correct [R1v2 D.1], and cons@k as the accuracy of the
majority-voted answer. Inputs are per-sample results of P prompts with k
samples each: `correct_PxK` (bool or 0/1; pass@1 also takes scores in
[0, 1], the others count a value > 0.5 as correct) and the extracted answers
(str, or None when a completion gave none).

Every metric returns (mean, stderr): stderr is the sample standard deviation
of the per-prompt values (ddof=1) over sqrt(P), or 0 for a single prompt.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Hashable, Sequence

import numpy as np

Normalize = Callable[[str], Hashable]


def mean_stderr(values_P: np.ndarray) -> tuple[float, float]:
  values_P = np.asarray(values_P, np.float64)
  if values_P.ndim != 1 or not values_P.size:
    raise ValueError(f'expected per-prompt values [P], got {values_P.shape}')
  p = values_P.size
  stderr = values_P.std(ddof=1) / math.sqrt(p) if p > 1 else 0.0
  return float(values_P.mean()), float(stderr)


def _as_pxk(correct_PxK) -> np.ndarray:
  correct_PxK = np.asarray(correct_PxK, np.float64)
  if correct_PxK.ndim != 2 or 0 in correct_PxK.shape:
    raise ValueError('expected per-sample results [P, k], got shape '
                     f'{correct_PxK.shape}')
  return correct_PxK


def pass_at_1(correct_PxK) -> tuple[float, float]:
  """R1's pass@1: mean over prompts of the per-prompt mean over k samples."""
  return mean_stderr(_as_pxk(correct_PxK).mean(axis=1))


def pass_at_k(n, c, k: int):
  """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

  n samples of which c are correct; n and c broadcast (ints or arrays).
  Uses the stable product form 1 - prod_{i=n-c+1}^{n} (1 - k / i).
  """
  n_P, c_P = np.broadcast_arrays(np.asarray(n), np.asarray(c))
  if np.any(c_P < 0) or np.any(c_P > n_P):
    raise ValueError('need 0 <= c <= n')
  if k < 1 or np.any(k > n_P):
    raise ValueError(f'need 1 <= k <= n, got k={k}, n={n}')
  out = np.empty(n_P.shape, np.float64)
  for i, (ni, ci) in enumerate(zip(n_P.ravel(), c_P.ravel())):
    if ni - ci < k:
      out.flat[i] = 1.0
    else:
      out.flat[i] = 1.0 - np.prod(1.0 - k / np.arange(ni - ci + 1, ni + 1))
  return out if out.ndim else float(out)


def mean_pass_at_k(correct_PxK, k: int) -> tuple[float, float]:
  """Unbiased pass@k averaged over prompts, from 0/1 results [P, n]."""
  correct_PxK = _as_pxk(correct_PxK) > 0.5
  n = correct_PxK.shape[1]
  return mean_stderr(pass_at_k(n, correct_PxK.sum(axis=1), k))


def best_at_k(correct_PxK) -> tuple[float, float]:
  """Fraction of prompts with at least one correct sample among k."""
  return mean_stderr((_as_pxk(correct_PxK) > 0.5).any(axis=1))


def _default_normalize(answer: str) -> Hashable:
  return answer.strip()


def majority_vote(answers_K: Sequence[str | None],
                  normalize: Normalize | None = None):
  """(voted answer, index of its first sample), or (None, None) if none.

  None never wins; ties go to the answer that occurred first. Answers are
  compared by `normalize(answer)` (default: stripped string); the returned
  answer is the first sample's original text.
  """
  normalize = normalize or _default_normalize
  counts, first = {}, {}
  for i, a in enumerate(answers_K):
    if a is None:
      continue
    key = normalize(a)
    counts[key] = counts.get(key, 0) + 1
    first.setdefault(key, i)
  if not counts:
    return None, None
  # max() keeps the first maximum; `first` is in first-occurrence order.
  best = max(first, key=counts.__getitem__)
  return answers_K[first[best]], first[best]


def cons_at_k(answers: Sequence[Sequence[str | None]],
              references: Sequence[Any] | None = None, *,
              correct_fn: Callable[[str, Any], bool] | None = None,
              correct_PxK=None,
              normalize: Normalize | None = None) -> tuple[float, float]:
  """Majority-vote accuracy (cons@k, a.k.a. maj@k) over P prompts.

  The voted answer of prompt i is scored by one of:
    - `correct_fn(answer, references[i])` (e.g. a math checker);
    - `normalize(answer) == normalize(references[i])`;
    - `correct_PxK[i, j]`, j the first sample that gave the voted answer.
  A prompt whose k answers are all None scores 0.
  """
  normalize = normalize or _default_normalize
  if (references is None) == (correct_PxK is None):
    raise ValueError('cons_at_k needs exactly one of references or '
                     'correct_PxK')
  if correct_fn is not None and references is None:
    raise ValueError('correct_fn compares with references; pass them')
  n = len(references) if references is not None else len(correct_PxK)
  if len(answers) != n:
    raise ValueError(f'{len(answers)} answer lists for {n} prompts')
  if correct_PxK is not None:
    correct_PxK = _as_pxk(correct_PxK)
  voted_P = np.zeros(len(answers))
  for i, answers_K in enumerate(answers):
    answer, j = majority_vote(answers_K, normalize)
    if answer is None:
      continue
    if correct_PxK is not None:
      voted_P[i] = correct_PxK[i, j] > 0.5
    elif correct_fn is not None:
      voted_P[i] = bool(correct_fn(answer, references[i]))
    else:
      voted_P[i] = normalize(answer) == normalize(references[i])
  return mean_stderr(voted_P)


def summarize(correct_PxK, answers=None, references=None, *,
              correct_fn: Callable[[str, Any], bool] | None = None,
              normalize: Normalize | None = None,
              pass_ks: Sequence[int] = ()) -> dict[str, float]:
  """pass@1 (mean@k), best@k, cons@k and unbiased pass@{k} with stderrs.

  cons@k needs `answers` ([P][k]); the vote is scored against `references`
  when given, otherwise by the voted sample's `correct_PxK` entry.
  """
  correct_PxK = _as_pxk(correct_PxK)
  p, k = correct_PxK.shape
  out: dict[str, float] = {'num_prompts': p, 'k': k}

  def add(name, mean_stderr):
    out[name], out[name + '_stderr'] = mean_stderr

  add('pass@1', pass_at_1(correct_PxK))
  for n in pass_ks:
    if n != 1:
      add(f'pass@{n}', mean_pass_at_k(correct_PxK, n))
  add('best@k', best_at_k(correct_PxK))
  if answers is not None:
    if any(len(a) != k for a in answers):
      raise ValueError(f'each prompt needs {k} answers, as in correct_PxK')
    if references is None:
      add('cons@k', cons_at_k(answers, correct_PxK=correct_PxK,
                              normalize=normalize))
    else:
      add('cons@k', cons_at_k(answers, references, correct_fn=correct_fn,
                              normalize=normalize))
  return out


def default_ks(n: int) -> list[int]:
  """The k of pass@k to report for n samples: 1, 2, 4, ... <= n, and n."""
  if n < 1:
    raise ValueError(f'need n >= 1, got {n}')
  ks, k = [], 1
  while k <= n:
    ks.append(k)
    k *= 2
  return ks if ks[-1] == n else ks + [n]
