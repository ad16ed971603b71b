"""Host reward registry: rewards are batch functions registered by name.

A reward is `fn(batch: RewardBatch, **options) -> RewardResult`. It scores
decoded completions against their examples (prompt, reference answer,
metadata) and never raises for a bad completion: failures and timeouts give
the reward's defined failure value and are counted in `RewardResult.failures`.
"""
import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np

_REWARDS: dict[str, Callable[..., 'RewardResult']] = {}


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


def get(name: str) -> Callable[..., RewardResult]:
  if name not in _REWARDS:
    raise ValueError(
        f'unknown reward {name!r}; registered: {sorted(_REWARDS)}')
  return _REWARDS[name]


def names() -> list[str]:
  return sorted(_REWARDS)
