"""Generated text corpora for pretraining, by name (`config.data.corpus`).

A corpus is a function (**kwargs) -> list of {"text": ...} records, a pure
function of its arguments (seeded), so a pretraining run is reproducible.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from r1jax.data import aha_corpus, r1_corpus
from r1jax.data import tasks, templates
from r1jax.data.tasks import arithmetic
from r1jax.data.tasks import code_fn

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


def _slip(rng, value: int) -> int:
  """A plausible arithmetic slip: off by 1, 2 or 10, never the true value."""
  return value + rng.choice((-10, -2, -1, 1, 2, 10))


def _worked(rng, start: int, steps, p_slip: float = 0.0, p_fix: float = 0.0,
            p_check: float = 0.0) -> tuple[str, int]:
  """Worked steps "a+b=c." left to right; (text, answer).

  Each step's result is a slip with probability `p_slip`. After a slip the
  writer checks the step with probability `p_fix`, after a right result
  with probability `p_check` ("wait, let me check: a+b=c." then "i made a
  mistake." or "correct."); a check always finds the right value and the
  chain goes on from it, an unchecked slip is carried on to a wrong answer.
  Steps have no inner spaces: with digits split, a space costs a token.
  """
  value, parts = start, []
  for op, operand in steps:
    true = {"+": value + operand, "-": value - operand,
            "*": value * operand, "/": value // operand}[op]
    line = f"{value}{op}{operand}="
    slip = rng.random() < p_slip
    written = _slip(rng, true) if slip else true
    parts.append(f"{line}{written}.")
    if rng.random() < (p_fix if slip else p_check):
      verdict = "i made a mistake." if slip else "correct."
      parts.append(f"wait, let me check: {line}{true}. {verdict}")
      written = true
    value = written
  return " ".join(parts), value


@register("r1_zero_base")
def r1_zero_base(num_docs: int = 8000, seed: int = 100,
                 template: str = "r1_zero", p_direct: float = 0.3,
                 p_untagged: float = 0.3, p_slip: float = 0.1,
                 p_fix: float = 0.5, p_check: float = 0.15,
                 num_ops: int = 3, max_operand: int = 5,
                 allow_division: bool = True, exclude_seed: int = -1,
                 exclude_count: int = 0) -> list[dict[str, Any]]:
  """An imperfect base model's pretraining text for the R1-Zero demo.

  Arithmetic problems (`tasks.arithmetic`) in the R1-Zero template, each
  followed by one response written in one of these styles:
  - direct (`p_direct`): `<think>` restates the question, then the answer
    tags; a tiny model cannot do the whole chain at once, so imitating
    these is short and often wrong (RL can make responses longer);
  - untagged (`p_untagged`): worked steps, then "the answer is N." with
    no tags (format and accuracy rewards both 0: the format reward has
    something to select against);
  - worked (the rest): `<think> steps </think> <answer> N </answer>` where
    a step is a slip with probability `p_slip`, and is checked ("wait, let
    me check: ...": R1's reflective words) with probability `p_fix` after
    a slip and `p_check` otherwise; a check always finds the right value,
    an unchecked slip gives a wrong answer. So checking is rare but pays,
    something RL can select.
  The problems of the task stream `exclude_seed` (its first
  `exclude_count`: the RL held-out prompts) are left out. Deterministic in
  the arguments.
  """
  task = tasks.get("arithmetic", num_ops=num_ops, max_operand=max_operand,
                   allow_division=allow_division)
  held_out = {e["prompt"] for e in task.examples(exclude_seed, 0,
                                                 exclude_count)}
  docs, i = [], 0
  while len(docs) < num_docs:
    ex = task.generate(seed, i)
    # The same draws as `generate`, for the chain's steps.
    start, steps, answer = arithmetic.make_chain(
        task.rng(seed, i), num_ops, max_operand, allow_division)
    rng = random.Random(f"r1_zero_base/{seed}/{i}")  # The style's coins.
    i += 1
    if ex["prompt"] in held_out:
      continue
    style = rng.random()
    if style < p_direct:
      question = arithmetic.chain_expression(start, steps)
      body = f"<think> {question} </think> <answer> {answer} </answer>"
    elif style < p_direct + p_untagged:
      text, value = _worked(rng, start, steps)
      body = f"{text} the answer is {value}."
    else:
      text, value = _worked(rng, start, steps, p_slip, p_fix, p_check)
      body = f"<think> {text} </think> <answer> {value} </answer>"
    docs.append({"text": templates.render(template, ex["prompt"]) + " "
                         + body})
  return docs


# Worked solutions of the synthetic code task (r1jax.data.tasks.code_fn).
register("code_fn_base")(code_fn.code_fn_corpus)
# The R1 miniature's multilingual, hard-to-read base (r1jax.data.r1_corpus).
register("r1_base")(r1_corpus.r1_base)
# The aha demo's corpus: checking is rare and pays (r1jax.data.aha_corpus).
register("r1_zero_aha")(aha_corpus.r1_zero_aha)
