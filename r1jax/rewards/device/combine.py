"""The device rewards of the one-program RL step: each reward's device twin
(`registry.register_device`), weighted and reported by the same combiner
as the host path (`rewards.combiner`), with the same config fields:
weights `config.rewards`, options `config.reward_options` (defaults: the
host function's signature), `config.reward_report`, `config.reward_scope`.

Accuracy is the task's own jnp verifier (`Task.device_accuracy`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import jax.numpy as jnp

from r1jax.rewards import combiner
from r1jax.rewards import registry
from r1jax.rewards.device import vocab

_Items = tuple[tuple[str, Any], ...]


@dataclasses.dataclass
class DeviceBatch:
  """What device twins see for B completion rows (traced arrays).

  `answers`: the task's per-row `device_answer` arrays; `cache`: values
  shared between twins (cosine reads accuracy).
  """
  tokens_BxM: Any
  mask_BxM: Any
  truncated_B: Any
  answers: Mapping[str, Any]
  class_V: Any
  tags: vocab.Tags
  think_opened: bool = False
  task: Any = None
  cache: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DeviceRewardSpec:
  """Static description of the device rewards (hashable)."""
  weights: tuple[tuple[str, float], ...]
  task: Any  # a tasks.Task (its device_accuracy), or None
  tags: vocab.Tags
  think_opened: bool = False
  options: tuple[tuple[str, _Items], ...] = ()
  report: tuple[str, ...] = ()
  scopes: tuple[tuple[str, combiner.Scope], ...] = ()
  source_ids: tuple[tuple[str, int], ...] = ()
  # Rewards computed outside the registry (reward models), by name.
  extra: tuple[str, ...] = ()

  def __post_init__(self):
    missing = ({n for n, _ in self.weights} - {n for n, _ in self.options}
               - set(self.extra))
    if missing:  # build it with from_config
      raise ValueError(f'DeviceRewardSpec: weighted rewards {sorted(missing)}'
                       ' have no options entry (use from_config)')

  @classmethod
  def from_config(cls, weights: Mapping[str, float],
                  options: Mapping[str, Any], task, tags: vocab.Tags,
                  think_opened: bool = False,
                  report: Sequence[str] = ('accuracy', 'format'),
                  scope: Mapping[str, Any] | None = None,
                  extra: Sequence[str] = ()) -> DeviceRewardSpec:
    """Fails naming the field when a weighted reward has no device twin or
    the task has no jnp verifier. Report-only rewards without a twin are
    skipped (the host computes text metrics such as reflection).
    `think_opened` follows the prompt template (`Prompter.think_opened`);
    `extra`: names of rewards the step computes itself (reward models).
    """
    w = {k: float(v) for k, v in dict(weights).items() if float(v) != 0.0}
    for name in w:
      if name not in extra and registry.device(name) is None:
        raise ValueError(
            f'config.rewards.{name}={w[name]}: no device version; set '
            'config.rl.host_rewards=True or weight 0 (device rewards: '
            f'{registry.device_names()})')
    needs_acc = ('accuracy' in w or 'cosine' in w)
    has_acc = task is not None and task.has_device_accuracy
    if needs_acc and not has_acc:
      raise ValueError(f'config.data.task={getattr(task, "name", task)!r} '
                       'has no device accuracy (Task.device_accuracy); set '
                       'config.rl.host_rewards=True')
    shown = [n for n in report if registry.device(n) is not None
             and n not in w and (n not in ('accuracy', 'cosine') or has_acc)]
    names = sorted(set(w) - set(extra)) + sorted(shown)
    opts = []
    for n in names:
      o = dict(registry.options(n), **dict(options.get(n) or {}))
      fn = registry.device(n)
      o = {k: tuple(v) if isinstance(v, list) else v for k, v in o.items()
           if registry.takes(fn, k)}
      opts.append((n, tuple(sorted(o.items()))))
    scopes = combiner.scopes(scope, list(scope or {}))
    return cls(weights=tuple(sorted(w.items())), task=task, tags=tags,
               think_opened=bool(think_opened), options=tuple(opts),
               report=tuple(sorted(shown)),
               scopes=tuple(sorted(scopes.items())),
               source_ids=tuple(sorted(combiner.source_ids(scopes).items())),
               extra=tuple(sorted(extra)))

  @property
  def names(self) -> tuple[str, ...]:
    """The rewards computed: weighted, then report-only."""
    return tuple(n for n, _ in self.options)


def values(spec: DeviceRewardSpec, batch: DeviceBatch) -> dict[str, Any]:
  """{name: float32[B]} of every computed reward."""
  return {n: registry.device(n)(batch, **dict(o)) for n, o in spec.options}


def score(spec: DeviceRewardSpec, batch: DeviceBatch, step=0,
          source_B=None, extra_values: Mapping[str, Any] | None = None):
  """(total_B, metrics, {name: values_B}).

  step: the RL step (rollouts done; gates `start_step`); source_B: int32
  [B] source ids (`spec.source_ids`; None = every row source 0);
  extra_values: {name: float32[B]} of the rewards in `spec.extra`
  (reward models, the judge; computed by the step), combined the same
  way; NaN = no value (a judge without a verdict): left out, counted.
  """
  parts = values(spec, batch)
  parts.update(extra_values or {})
  weights = dict(spec.weights)
  b = batch.tokens_BxM.shape[0]
  if source_B is None:
    source_B = jnp.zeros((b,), jnp.int32)
  ids, scopes = dict(spec.source_ids), dict(spec.scopes)
  masks, gates = {}, {}
  for name in parts:
    sc = scopes.get(name) or combiner.Scope()
    masks[name] = combiner.in_scope(sc, source_B, ids, jnp)
    gates[name] = (jnp.asarray(step) >= sc.start_step).astype(jnp.float32)
  total_B, metrics = combiner.combine(parts, weights, masks=masks,
                                      gates=gates, missing=spec.extra,
                                      num_rows=b, xp=jnp)
  return total_B, metrics, parts
