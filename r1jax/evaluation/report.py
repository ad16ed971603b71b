"""Metrics of one benchmark from per-sample records, and a Markdown table.

`benchmark_metrics` takes P problems x n samples of per-sample records and
returns (keys, n = 64 as an example):
  n, num_problems, num_samples (= P * n)
  pass@1, pass@1_stderr        mean over problems of the fraction of the n
                               samples that are correct [R1v2 D.1]; stderr:
                               ddof=1 std of the per-problem values / sqrt(P)
  pass@k, pass@k_stderr        unbiased pass@k (Chen et al. 2021) for
                               k = 2, 4, ..., and n (`passk.default_ks`)
  cons@64, cons@64_stderr      majority vote over the n samples
                               (`scoring.majority`); named with the real n
  length/mean, length/p50, length/p90, length/p99, length/max
                               completion length in tokens over all samples
  truncated, format, no_answer fractions of samples that hit the token
                               limit / are formatted / gave no answer
  checker/timeout, checker/error, checker/infra, checker/too_long
                               (with `statuses_PxN`) counts of samples whose
                               answer check did not complete: scored wrong
Each problem must have exactly n samples in every input, so a metric can
never be computed from fewer samples than it is named after (lighteval
#771 reported pass@1:64 from 8 samples).
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from r1jax.evaluation import passk
from r1jax.evaluation import scoring
from r1jax.rewards import pool as pool_lib

_CHECKER_STATUSES = (pool_lib.TIMEOUT, pool_lib.ERROR, pool_lib.INFRA,
                     scoring.TOO_LONG)


def _check_shape(name: str, rows_PxN: Sequence[Sequence[Any]], p: int,
                 n: int) -> None:
  if len(rows_PxN) != p:
    raise ValueError(f'{name}: {len(rows_PxN)} problems, expected {p}')
  for i, row in enumerate(rows_PxN):
    if len(row) != n:
      raise ValueError(f'{name}: problem {i} has {len(row)} samples, '
                       f'expected n={n}; every problem must be scored on '
                       'all n samples generated for it')


def benchmark_metrics(correct_PxN: Sequence[Sequence[bool]],
                      groups_PxN: Sequence[Sequence[Hashable | None]],
                      lengths_PxN: Sequence[Sequence[int]],
                      truncated_PxN: Sequence[Sequence[bool]],
                      formatted_PxN: Sequence[Sequence[bool]], *,
                      n: int,
                      num_problems: int | None = None,
                      correct_vote_P: Sequence[bool] | None = None,
                      statuses_PxN: Sequence[Sequence[str]] | None = None,
                      ks: Sequence[int] | None = None) -> dict[str, Any]:
  """Metrics of one benchmark (keys in the module doc).

  correct_PxN: per-sample correctness.
  groups_PxN: answer group ids (`scoring.answer_groups`; None: no answer).
    Any hashable ids work (e.g. normalized letters for choices).
  lengths_PxN: completion lengths in tokens.
  truncated_PxN: the sample hit the token limit without ending.
  formatted_PxN: `Score.formatted`.
  n: the number of samples generated per problem; every input must have
    exactly n samples for every problem (raises ValueError otherwise).
  num_problems: if given, the number of problems of the benchmark (raises if
    some were dropped).
  correct_vote_P: correctness of each problem's voted answer, if checked by
    the caller; by default the first sample of the voted group decides
    (`scoring.majority`).
  statuses_PxN: `Score.status`, for the checker/* counts.
  ks: the k of pass@k (default `passk.default_ks(n)`).
  """
  if n < 1:
    raise ValueError(f'need n >= 1, got {n}')
  p = len(correct_PxN)
  if num_problems is not None and p != num_problems:
    raise ValueError(f'{p} problems scored, expected {num_problems}')
  if p == 0:
    raise ValueError('no problems to score')
  inputs = dict(correct_PxN=correct_PxN, groups_PxN=groups_PxN,
                lengths_PxN=lengths_PxN, truncated_PxN=truncated_PxN,
                formatted_PxN=formatted_PxN)
  if statuses_PxN is not None:
    inputs['statuses_PxN'] = statuses_PxN
  for name, rows in inputs.items():
    _check_shape(name, rows, p, n)
  correct = np.asarray(correct_PxN, np.float64)
  if np.any((correct != 0) & (correct != 1)):
    raise ValueError('correct_PxN must be 0/1 (bool) per sample')
  num_samples = int(correct.size)
  assert num_samples == p * n, (num_samples, p, n)

  out: dict[str, Any] = {'n': n, 'num_problems': p,
                         'num_samples': num_samples}

  def add(name, mean_stderr):
    out[name], out[name + '_stderr'] = mean_stderr

  add('pass@1', passk.pass_at_1(correct))
  for k in (passk.default_ks(n) if ks is None else ks):
    if k != 1:
      add(f'pass@{k}', passk.mean_pass_at_k(correct, k))

  if correct_vote_P is None:
    correct_vote_P = [scoring.majority(g, c)[1]
                      for g, c in zip(groups_PxN, correct_PxN)]
  elif len(correct_vote_P) != p:
    raise ValueError(f'correct_vote_P: {len(correct_vote_P)} problems, '
                     f'expected {p}')
  add(f'cons@{n}', passk.mean_stderr(np.asarray(correct_vote_P, np.float64)))

  lengths = np.asarray(lengths_PxN, np.float64).ravel()
  out['length/mean'] = float(lengths.mean())
  for q in (50, 90, 99):
    out[f'length/p{q}'] = float(np.percentile(lengths, q))
  out['length/max'] = float(lengths.max())
  out['truncated'] = float(np.mean(np.asarray(truncated_PxN, bool)))
  out['format'] = float(np.mean(np.asarray(formatted_PxN, bool)))
  out['no_answer'] = sum(g is None for row in groups_PxN
                         for g in row) / num_samples
  if statuses_PxN is not None:
    flat = [s for row in statuses_PxN for s in row]
    for status in _CHECKER_STATUSES:
      out[f'checker/{status}'] = flat.count(status)
  return out


def metrics_from_scores(scores_PxN: Sequence[Sequence[scoring.Score]],
                        groups_PxN: Sequence[Sequence[Hashable | None]],
                        lengths_PxN: Sequence[Sequence[int]],
                        truncated_PxN: Sequence[Sequence[bool]], *,
                        n: int, num_problems: int | None = None,
                        ks: Sequence[int] | None = None) -> dict[str, Any]:
  """`benchmark_metrics` from `scoring.score`'s output."""
  def field(name):
    return [[getattr(s, name) for s in row] for row in scores_PxN]
  return benchmark_metrics(
      field('correct'), groups_PxN, lengths_PxN, truncated_PxN,
      field('formatted'), n=n, num_problems=num_problems,
      statuses_PxN=field('status'), ks=ks)


# Settings shown under the table, in this order, with their labels.
_SETTINGS = (('model', 'model'), ('template', 'template'),
             ('temperature', 'temperature'), ('top_p', 'top-p'),
             ('max_new_tokens', 'max new tokens'), ('seed', 'seed'),
             ('devices', 'devices'), ('mesh', 'mesh'))


def _fmt_setting(value: Any) -> str:
  if isinstance(value, Mapping):
    return ', '.join(f'{k}={v}' for k, v in value.items())
  if isinstance(value, (list, tuple)):
    return 'x'.join(str(v) for v in value)
  return str(value)


def _pct(x: float) -> str:
  return f'{100 * x:.1f}'


def markdown(results: Mapping[str, Mapping[str, Any]],
             meta: Mapping[str, Any]) -> str:
  """A Markdown table of benchmarks, then the settings line.

  results: benchmark name -> `benchmark_metrics` output.
  meta: settings; known keys (model, template, temperature, top_p,
    max_new_tokens, seed, devices, mesh) come first, in that order, then any
    others; missing ones are left out.
  """
  lines = ['| Benchmark | pass@1 (%) | cons@n (%) | n | Problems | '
           'Mean length | Truncated (%) |',
           '|---|---:|---:|---:|---:|---:|---:|']
  for name, m in results.items():
    n = m['n']
    lines.append(
        f"| {name} | {_pct(m['pass@1'])} ± {_pct(m['pass@1_stderr'])} | "
        f"{_pct(m[f'cons@{n}'])} | {n} | {m['num_problems']} | "
        f"{m['length/mean']:,.0f} | {_pct(m['truncated'])} |")
  known = [k for k, _ in _SETTINGS]
  parts = [f'{label} {_fmt_setting(meta[k])}' for k, label in _SETTINGS
           if k in meta]
  parts += [f'{k} {_fmt_setting(v)}' for k, v in meta.items()
            if k not in known]
  lines += ['', 'Settings: ' + '; '.join(parts) + '.',
            'pass@1: mean over the n samples of each problem, ± standard '
            'error over problems; cons@n: majority vote over the n samples; '
            'length in tokens; truncated: samples that hit the token limit.']
  return '\n'.join(lines) + '\n'
