"""Multi-step arithmetic: a chain of operations with an exact integer answer.

The chain starts from a number and applies `num_ops` operations in order;
division is used only when exact, so the answer is always an integer.
The prompt writes the chain as one expression with the parentheses needed
to keep the order, e.g. `(7 + 5) * 3 - 4`.
"""
import dataclasses
from typing import Any, Mapping

import numpy as np

from r1jax.data.tasks import base
from r1jax.data.tasks import expr


def make_chain(rng, num_ops, max_operand, allow_division):
  """(start, [(op, operand), ...], answer) with an integer answer."""
  start = rng.randint(1, max_operand)
  value, steps = start, []
  ops = '+-*/' if allow_division else '+-*'
  for _ in range(num_ops):
    op = rng.choice(ops)
    if op == '/':
      divisors = [d for d in range(2, max_operand + 1)
                  if value % d == 0 and value != 0]
      if not divisors:
        op = '*'
      else:
        operand = rng.choice(divisors)
    if op != '/':
      operand = rng.randint(1, max_operand)
    value = {'+': value + operand, '-': value - operand,
             '*': value * operand, '/': value // operand}[op]
    steps.append((op, operand))
  return start, steps, value


def chain_expression(start, steps) -> str:
  """Infix text that evaluates the chain left to right."""
  text, low_prec = str(start), False
  for op, operand in steps:
    if op in '*/' and low_prec:
      text = f'({text})'
    text = f'{text} {op} {operand}'
    low_prec = op in '+-'
  return text


@base.register('arithmetic')
@dataclasses.dataclass(frozen=True)
class Arithmetic(base.Task):
  """Knobs: number of operations, operand range, division on/off.

  `min_ops` > 0 mixes difficulties: each problem's number of operations is
  drawn uniformly from [min_ops, num_ops] (the example's `ops` field).
  """
  num_ops: int = 3
  max_operand: int = 20
  allow_division: bool = True
  min_ops: int = 0

  def __post_init__(self):
    if self.min_ops and not 1 <= self.min_ops <= self.num_ops:
      raise ValueError(f'min_ops={self.min_ops} must be 0 (fixed num_ops) '
                       f'or in [1, num_ops={self.num_ops}]')

  def chain(self, seed: int, index: int):
    """(start, [(op, operand), ...], answer) of the example at `index`."""
    rng = self.rng(seed, index)
    ops = rng.randint(self.min_ops, self.num_ops) if self.min_ops \
        else self.num_ops
    return make_chain(rng, ops, self.max_operand, self.allow_division)

  def generate(self, seed: int, index: int) -> dict[str, Any]:
    start, steps, answer = self.chain(seed, index)
    question = chain_expression(start, steps)
    prompt = f'Compute {question}. The final answer is a single integer.'
    return dict(id=f'{self.name}/{seed}/{index}', prompt=prompt,
                answer=str(answer), task=self.name, lang='en',
                ops=len(steps))

  def verify(self, answer: str | None, example: Mapping[str, Any]) -> bool:
    """A bare integer (R1-Zero's `<answer> 7 </answer>`), or else the
    integer in the answer's last `\\boxed{}` (R1's readable layout: a
    summary ending "... \\boxed{7}."). The device reward
    (`device_accuracy`) reads bare integers only: boxed answers need
    host rewards."""
    if answer is None:
      return False
    value = expr.parse_int(answer)
    if value is None:
      from r1jax.rewards import extract  # pylint: disable=g-import-not-at-top
      boxed = extract.last_boxed(answer)
      value = None if boxed is None else expr.parse_int(boxed)
    return value is not None and value == int(example['answer'])

  def device_answer(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return dict(answer=np.int32(int(example['answer'])))

  def device_accuracy(self, tokens_BxM, mask_BxM, answers, class_V, tags):
    from r1jax.rewards.device import accuracy  # pylint: disable=g-import-not-at-top
    return accuracy.arithmetic_accuracy(tokens_BxM, mask_BxM,
                                        answers['answer'], class_V, tags)
