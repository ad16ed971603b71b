"""The one reward registry: each reward's host function and device twin.

A reward is registered once by name with its host function
`fn(batch: RewardBatch, **options) -> RewardResult`, which scores decoded
completions against their examples (prompt, reference answer, metadata) and
never raises for a bad completion: failures and timeouts give the reward's
defined failure value and are counted in `RewardResult.failures`.

Where a jnp version exists, `r1jax.rewards.device` registers it as the
reward's device twin (`register_device`): `fn(batch: device.DeviceBatch,
**options) -> float32[B]`, traced into the one-program RL step. The twin
takes the same options as the host function and has no defaults of its own:
an option's one default is the host function's signature (`options`).

This module imports no JAX (reward worker processes import it).
"""
import dataclasses
import inspect
from typing import Any, Callable, Mapping, Sequence

import numpy as np

_REWARDS: dict[str, Callable[..., 'RewardResult']] = {}
_DEVICE: dict[str, Callable[..., Any]] = {}
# Not options: the batch, and `think_opened`, which follows the template.
NOT_OPTIONS = ('batch', 'think_opened')


@dataclasses.dataclass
class RewardBatch:
  """What host rewards see for a batch of B completions.

  Attributes:
    completions: B decoded completion strings (without the prompt).
    examples: B example dicts with at least `prompt` and `answer`; optional
      `task`, `answer_type` ('math' | 'choice'), `lang` (target language).
    lengths_B: completion lengths in tokens (needed by length rewards).
    truncated_B: True where a completion ended without EOS.
    cache: results shared between rewards (e.g. accuracy for cosine).
  """
  completions: Sequence[str]
  examples: Sequence[Mapping[str, Any]]
  lengths_B: np.ndarray | None = None
  truncated_B: np.ndarray | None = None
  cache: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if len(self.completions) != len(self.examples):
      raise ValueError(
          f'{len(self.completions)} completions but {len(self.examples)} '
          'examples')

  def __len__(self):
    return len(self.completions)


@dataclasses.dataclass
class RewardResult:
  """Per-completion values, a failure count and extra metrics."""
  values_B: np.ndarray
  failures: int = 0
  metrics: dict[str, float] = dataclasses.field(default_factory=dict)


def register(name: str):
  """Decorator that registers a host reward under `name`."""

  def wrap(fn):
    if name in _REWARDS:
      raise ValueError(f'reward {name!r} registered twice')
    _REWARDS[name] = fn
    return fn

  return wrap


def register_device(name: str):
  """Decorator that registers the device twin of the host reward `name`."""

  def wrap(fn):
    if name not in _REWARDS:
      raise ValueError(f'device twin of {name!r}: no host reward of that '
                       'name (register the host function first)')
    params = inspect.signature(fn).parameters
    extra = set(params) - set(inspect.signature(_REWARDS[name]).parameters)
    defaults = [p for p in list(params)[1:]
                if params[p].default is not inspect.Parameter.empty]
    if extra or defaults:
      raise ValueError(f'device twin of {name!r}: options must be the host '
                       f'function\'s, without defaults (extra: '
                       f'{sorted(extra)}, defaults: {defaults})')
    if name in _DEVICE:
      raise ValueError(f'device twin of {name!r} registered twice')
    _DEVICE[name] = fn
    return fn

  return wrap


def device(name: str) -> Callable[..., Any] | None:
  """The device twin of `name`, or None (a host-only reward)."""
  get(name)
  return _DEVICE.get(name)


def device_names() -> list[str]:
  return sorted(_DEVICE)


def options(name: str) -> dict[str, Any]:
  """The reward's options and their one set of defaults: the host
  function's signature (without the batch and `think_opened`)."""
  out = {}
  for p in inspect.signature(get(name)).parameters.values():
    if p.name in NOT_OPTIONS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
      continue
    out[p.name] = p.default
  return out


def takes(fn: Callable[..., Any], option: str) -> bool:
  return option in inspect.signature(fn).parameters


def get(name: str) -> Callable[..., RewardResult]:
  if name not in _REWARDS:
    raise ValueError(
        f'unknown reward {name!r}; registered: {sorted(_REWARDS)}')
  return _REWARDS[name]


def names() -> list[str]:
  return sorted(_REWARDS)
