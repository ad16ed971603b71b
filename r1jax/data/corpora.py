"""Generated text corpora for pretraining, by name (`config.data.corpus`).

A corpus is a function (**kwargs) -> list of {"text": ...} records, a pure
function of its arguments (seeded), so a pretraining run is reproducible.
"""
from __future__ import annotations

from typing import Any, Callable

from r1jax.data import tasks, templates

_CORPORA: dict[str, Callable[..., list[dict[str, Any]]]] = {}


def register(name: str):
  def wrap(fn):
    if name in _CORPORA:
      raise ValueError(f"corpus {name!r} registered twice")
    _CORPORA[name] = fn
    return fn
  return wrap


def get(name: str, **kwargs) -> list[dict[str, Any]]:
  if name not in _CORPORA:
    raise ValueError(f"unknown corpus {name!r}; known: {names()}")
  return _CORPORA[name](**kwargs)


def names() -> list[str]:
  return sorted(_CORPORA)


@register("task_answers")
def task_answers(task: str = "arithmetic", num_docs: int = 2000,
                 seed: int = 100, template: str = "r1_zero",
                 **task_kwargs) -> list[dict[str, Any]]:
  """Templated prompts followed by a correctly formatted direct answer."""
  t = tasks.get(task, **task_kwargs)
  return [{"text": templates.render(template, e["prompt"])
                   + f" <think> {e['prompt']} </think> <answer> "
                   f"{e['answer']} </answer>"}
          for e in t.examples(seed, 0, num_docs)]
