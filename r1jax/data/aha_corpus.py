"""`r1_zero_aha`: a base corpus where checking one's steps is rare and pays.

The R1-Zero demo's `r1_zero_base` corpus checks a step by writing the same
line again, mostly right after a slip: a check there signals a slip, and a
small model can pass it by copying the line above. Here (issue 17):

(a) first attempts slip at a known rate (`p_slip` per step);
(b) a check recomputes the step by the INVERSE operation ("12-5=7. wait,
    let me check: 7+5=12, should be 12. correct."), whose result is not on
    the page, and compares it with the step's left operand, copied next to
    it; a slipped step fails its check ("8+5=13, should be 12. i made a
    mistake: 12-5=7.") and is corrected. Checks
    and corrections never slip. Multiplication slips by a whole multiple
    of the operand (a group too many or too few), so the check's division is
    exact;
(c) checking is a writer's habit decided before the first step and
    independent of slips: a few percent of solutions (`p_careful`) check
    every step, the rest none, so checking is something RL must select;
(d) problems have `min_ops` to `num_ops` operations: the more steps, the
    more slips to catch.
A base model must be able to check before RL can select checking, and a
few percent of solutions teach a ~1M-parameter model too little of it (a
base pretrained on them checked worse than it solved: 0.16 vs 0.41
accuracy at T 1.0). So `p_drill` of the documents are drills: a problem's
steps, each checked, outside the template (no question, no tags): the
skill is common in the corpus, the habit in answers rare.

`check` switches the mechanism off for the controls: "restate" writes the
check as the step itself, always "correct." (same length and reflective
words, no benefit); "inverse" is the default.
"""
from __future__ import annotations

import random
from typing import Any

from r1jax.data import tasks, templates
from r1jax.data.tasks import arithmetic

_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
          "*": lambda a, b: a * b, "/": lambda a, b: a // b}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}
CHECKS = ("inverse", "restate")


def slip(rng: random.Random, op: str, operand: int, true: int) -> int:
  """A plausible wrong result of one step (never `true`)."""
  if op == "*":  # a group too many or too few: still divisible by operand
    return true + operand * rng.choice((-2, -1, 1, 2))
  if op == "/":
    return true + rng.choice((-2, -1, 1, 2))
  return true + rng.choice((-10, -2, -1, 1, 2, 10))


def misremembered(value: int, op: str, operand: int,
                  rate: float) -> int | None:
  """The base writer's wrong "fact" for this step, or None: a fixed
  fraction `rate` of all (value, op, operand) steps is always written
  wrong, the same way, in first attempts (a misconception, not noise:
  sharpening the model's distribution cannot remove it, a check can)."""
  rng = random.Random(f"r1_zero_aha/fact/{value}{op}{operand}")
  if rng.random() >= rate:
    return None
  return slip(rng, op, operand, _APPLY[op](value, operand))


def check_text(value: int, op: str, operand: int, written: int,
               check: str = "inverse") -> tuple[str, bool]:
  """(the check of "value op operand = written", whether it passed).

  A failed check ends with the corrected step; the caller continues from
  the true value."""
  true = _APPLY[op](value, operand)
  line = f"{value}{op}{operand}="
  if check == "restate":
    return f"wait, let me check: {line}{written}. correct.", True
  inv = _INVERSE[op]
  back = _APPLY[inv](written, operand)
  # The value to match is copied next to the recomputed one, so the
  # verdict compares two adjacent numbers.
  text = (f"wait, let me check: {written}{inv}{operand}={back}, should be "
          f"{value}.")
  if back == value:
    return text + " correct.", True
  return text + f" i made a mistake: {line}{true}.", False


def solution(rng: random.Random, start: int, steps, p_slip: float,
             careful: bool, check: str = "inverse",
             p_misconception: float = 0.0) -> tuple[str, int]:
  """Worked steps, each checked when `careful`; (text, final value).

  A first attempt is the step's misconception (`misremembered`) if it has
  one, else a random slip with probability `p_slip`."""
  if check not in CHECKS:
    raise ValueError(f"check={check!r}; one of {CHECKS}")
  value, parts = start, []
  for op, operand in steps:
    true = _APPLY[op](value, operand)
    wrong = misremembered(value, op, operand, p_misconception)
    written = wrong if wrong is not None else (
        slip(rng, op, operand, true) if rng.random() < p_slip else true)
    parts.append(f"{value}{op}{operand}={written}.")
    if careful:
      text, _ = check_text(value, op, operand, written, check)
      parts.append(text)
      if check == "inverse":
        written = true
    value = written
  return " ".join(parts), value


def r1_zero_aha(num_docs: int = 8000, seed: int = 100,
                template: str = "r1_zero", p_direct: float = 0.3,
                p_untagged: float = 0.3, p_slip: float = 0.2,
                p_careful: float = 0.1, p_drill: float = 0.25,
                p_misconception: float = 0.0, check: str = "inverse",
                num_ops: int = 4, min_ops: int = 2, max_operand: int = 5,
                allow_division: bool = True, exclude_seed: int = -1,
                exclude_count: int = 0) -> list[dict[str, Any]]:
  """The aha demo's base pretraining text (module docstring).

  `p_drill` of the documents are drills (checked steps without template);
  the rest answer a templated problem in the styles of `r1_zero_base`:
  direct answers (`p_direct`), untagged worked steps (`p_untagged`), else
  tagged worked steps of which `p_careful` check every step. Problems are the `arithmetic` task's with
  (num_ops, min_ops, max_operand, allow_division); those of the stream
  `exclude_seed` (its first `exclude_count`) are left out.
  """
  task = tasks.get("arithmetic", num_ops=num_ops, min_ops=min_ops,
                   max_operand=max_operand, allow_division=allow_division)
  held_out = {e["prompt"] for e in task.examples(exclude_seed, 0,
                                                 exclude_count)}
  docs, i = [], 0
  while len(docs) < num_docs:
    ex = task.generate(seed, i)
    start, steps, answer = task.chain(seed, i)
    rng = random.Random(f"r1_zero_aha/{seed}/{i}")  # The style's coins.
    i += 1
    if ex["prompt"] in held_out:
      continue
    if rng.random() < p_drill:
      text, _ = solution(rng, start, steps, p_slip, True, check,
                         p_misconception)
      docs.append({"text": text})
      continue
    style = rng.random()
    if style < p_direct:
      question = arithmetic.chain_expression(start, steps)
      body = f"<think> {question} </think> <answer> {answer} </answer>"
    elif style < p_direct + p_untagged:
      text, value = solution(rng, start, steps, p_slip, False,
                             p_misconception=p_misconception)
      body = f"{text} the answer is {value}."
    else:
      careful = rng.random() < p_careful
      text, value = solution(rng, start, steps, p_slip, careful, check,
                             p_misconception)
      body = f"<think> {text} </think> <answer> {value} </answer>"
    docs.append({"text": templates.render(template, ex["prompt"]) + " "
                         + body})
  return docs
