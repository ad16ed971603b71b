"""Synthetic verifiable tasks: the interface and the registry.

A task is a frozen dataclass whose fields are its difficulty knobs. Examples
are deterministic functions of (seed, index) and are plain dicts with
`id`, `prompt` (the question, before any template), `answer` (reference),
`task` (registry name) and `lang`, plus task-specific fields.
"""
import abc
import dataclasses
import random
from typing import Any, Mapping

import numpy as np

_TASKS: dict[str, type['Task']] = {}


def register(name: str):
  """Class decorator registering a task under `name`."""

  def wrap(cls):
    if name in _TASKS:
      raise ValueError(f'task {name!r} registered twice')
    cls.name = name
    _TASKS[name] = cls
    return cls

  return wrap


def get(name: str, **knobs) -> 'Task':
  """A task instance, e.g. get('countdown', num_numbers=4)."""
  if name not in _TASKS:
    raise ValueError(f'unknown task {name!r}; registered: {sorted(_TASKS)}')
  return _TASKS[name](**knobs)


def names() -> list[str]:
  return sorted(_TASKS)


def is_task(name: Any) -> bool:
  return isinstance(name, str) and name in _TASKS


@dataclasses.dataclass(frozen=True)
class Task(abc.ABC):
  """Generator + verifier of one synthetic task."""
  name = 'task'

  def rng(self, seed: int, index: int) -> random.Random:
    # String seeds hash stably (sha512) across Python runs and versions.
    return random.Random(f'{self.name}/{seed}/{index}')

  @abc.abstractmethod
  def generate(self, seed: int, index: int) -> dict[str, Any]:
    """The example at `index` of the stream seeded by `seed`."""

  @abc.abstractmethod
  def verify(self, answer: str | None, example: Mapping[str, Any]) -> bool:
    """True if the extracted answer text solves the example."""

  @abc.abstractmethod
  def device_answer(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Fixed-shape arrays the jnp accuracy reward needs for this example."""

  def device_accuracy(self, tokens_BxM, mask_BxM, answers, class_V, tags):
    """float32[B] (jnp, traceable): 1.0 where a completion's answer solves
    its example, read from tokens (`rewards.device`); `answers` holds the
    rows' `device_answer` arrays. Tasks without a jnp verifier leave it
    unimplemented (`has_device_accuracy` is False)."""
    raise NotImplementedError(f'task {self.name!r} has no device accuracy')

  @property
  def has_device_accuracy(self) -> bool:
    return type(self).device_accuracy is not Task.device_accuracy

  def examples(self, seed: int, start: int, count: int) -> list[dict]:
    return [self.generate(seed, i) for i in range(start, start + count)]
