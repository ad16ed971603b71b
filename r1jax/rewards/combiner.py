"""The weighted total of rewards and their metrics: one combiner for the
host path (numpy) and the device path (jnp, inside the compiled step).

Each computed reward has per-row values; a reward's **scope**
(`config.reward_scope.<name>`) limits it to rows whose example comes from
one of its `sources` (R1's last stage: rule rewards for reasoning prompts,
reward models for general ones) and to RL steps >= `start_step` (R1:
preference rewards only in the last 400 of 1,700 steps). Outside its scope
a reward adds 0 to the total.

Metric names, the same on both paths: `reward/<name>` (mean over the rows
in scope), `reward/<name>/std`, `reward/<name>/failures` (host failures;
0 on the device), `reward/<name>/<k>` (a host reward's own counts),
`reward/total` and `reward/total/std` (over all rows).

No JAX import: `xp` is numpy or jax.numpy.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Scope:
  """Where a reward applies: example sources ('' or () = all rows) and the
  first RL step (counted in rollouts, like config.steps)."""
  sources: tuple[str, ...] = ()
  start_step: int = 0

  @classmethod
  def from_config(cls, block: Mapping[str, Any] | None, field: str) -> Scope:
    block = dict(block or {})
    unknown = set(block) - {'sources', 'start_step'}
    if unknown:
      raise ValueError(f'{field}: unknown fields {sorted(unknown)}; allowed: '
                       'sources, start_step')
    src = block.get('sources') or ()
    if isinstance(src, str):
      src = tuple(s.strip() for s in src.split(',') if s.strip())
    start = block.get('start_step', 0)
    if not isinstance(start, int) or start < 0:
      raise ValueError(f'{field}.start_step={start!r} must be an int >= 0 '
                       '(RL steps, i.e. rollouts)')
    return cls(tuple(str(s) for s in src), int(start))


def scopes(config_block: Mapping[str, Any] | None,
           names: Sequence[str]) -> dict[str, Scope]:
  """{name: Scope} from config.reward_scope for the rewards `names`."""
  block = dict(config_block or {})
  unknown = set(block) - set(names)
  if unknown:
    raise ValueError(f'config.reward_scope has {sorted(unknown)}, which are '
                     f'not rewards; rewards: {sorted(names)}')
  return {n: Scope.from_config(block.get(n), f'config.reward_scope.{n}')
          for n in names}


def source_ids(all_scopes: Mapping[str, Scope]) -> dict[str, int]:
  """Every source named in a scope -> an id >= 1 (0: any other source);
  the device path carries example sources as these ids."""
  names = sorted({s for sc in all_scopes.values() for s in sc.sources})
  return {s: i + 1 for i, s in enumerate(names)}


def in_scope(scope: Scope, source_B, ids: Mapping[str, int], xp=np):
  """bool[B]: rows whose source is in the scope. `source_B` holds source
  strings (host) or their ids (device)."""
  if not scope.sources:
    return xp.ones(np.shape(source_B)[:1], bool)
  if xp is np and np.asarray(source_B).dtype.kind in 'UO':
    return np.isin(np.asarray(source_B, object), list(scope.sources))
  allowed = xp.asarray([ids[s] for s in scope.sources])
  return xp.any(xp.asarray(source_B)[:, None] == allowed[None, :], axis=1)


def combine(values: Mapping[str, Any], weights: Mapping[str, float], *,
            masks: Mapping[str, Any] | None = None,
            gates: Mapping[str, Any] | None = None,
            failures: Mapping[str, float] | None = None,
            extra: Mapping[str, Mapping[str, float]] | None = None,
            missing: Sequence[str] = (),
            num_rows: int | None = None, xp=np) -> tuple[Any, dict[str, Any]]:
  """(total_B, metrics) = (sum_name weight * gate * where(mask, values, 0),
  the metrics of the module docstring).

  values: {name: float[B]} of every computed reward (weight 0 ones are
  reported only); masks: {name: bool[B]} rows in scope (default all);
  gates: {name: 0/1 scalar} whether the step is past start_step (default
  1); failures / extra: a host reward's failure count and own metrics;
  missing: rewards whose NaN values mean "no value" (a judge without a
  verdict): those rows are left out and counted in `reward/<name>/missing`
  (a fraction); num_rows: B, needed only when `values` is empty.
  """
  masks, gates = dict(masks or {}), dict(gates or {})
  failures, extra = dict(failures or {}), dict(extra or {})
  total_B = None
  metrics: dict[str, Any] = {}
  for name, v_B in values.items():
    v_B = xp.asarray(v_B, xp.float32)
    m_B = masks.get(name)
    m_B = xp.ones(v_B.shape, bool) if m_B is None else xp.asarray(m_B, bool)
    if name in missing:
      nan_B = xp.isnan(v_B)
      metrics[f'reward/{name}/missing'] = nan_B.mean()
      m_B = m_B & ~nan_B
    v_B = xp.where(m_B, v_B, 0.0)
    w = float(weights.get(name, 0.0))
    term_B = w * xp.asarray(gates.get(name, 1.0), xp.float32) * v_B
    total_B = term_B if total_B is None else total_B + term_B
    n = xp.maximum(m_B.sum(), 1).astype(xp.float32)
    mean = v_B.sum() / n
    metrics[f'reward/{name}'] = mean
    metrics[f'reward/{name}/std'] = xp.sqrt(
        xp.where(m_B, (v_B - mean) ** 2, 0.0).sum() / n)
    metrics[f'reward/{name}/failures'] = xp.asarray(
        float(failures.get(name, 0.0)), xp.float32)
    for k, x in extra.get(name, {}).items():
      metrics[f'reward/{name}/{k}'] = float(x)
  if total_B is None:  # nothing computed (e.g. pure distillation)
    if num_rows is None:
      raise ValueError('combine: no reward values and no num_rows')
    total_B = xp.zeros((num_rows,), xp.float32)
  metrics['reward/total'] = total_B.mean()
  metrics['reward/total/std'] = total_B.std()
  return total_B, metrics
