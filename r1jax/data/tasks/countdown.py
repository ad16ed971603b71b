"""Countdown: combine given numbers with + - * / to reach a target.

As in TinyZero: every given number is used exactly once; the answer is the
expression alone (no '= target'). It is checked by a safe parser with exact
fractions, never by `eval`.
"""
import dataclasses
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from r1jax.data.tasks import base
from r1jax.data.tasks import expr

# Width of the padded `numbers` array handed to the device reward.
MAX_NUMBERS = 8


def _combine(rng, values, strings):
  """Randomly folds numbers into one expression; (Fraction, str) or None."""
  values, strings = [Fraction(v) for v in values], list(strings)
  while len(values) > 1:
    i, j = rng.sample(range(len(values)), 2)
    a, b, sa, sb = values[i], values[j], strings[i], strings[j]
    op = rng.choice('+-*/')
    if op == '-' and a < b:
      a, b, sa, sb = b, a, sb, sa
    if op == '/' and (b == 0 or a % b != 0):
      op = '+'
    value = {'+': a + b, '-': a - b, '*': a * b, '/': a / b if b else a}[op]
    text = f'({sa} {op} {sb})'
    for k in sorted((i, j), reverse=True):
      del values[k], strings[k]
    values.append(value)
    strings.append(text)
  return values[0], strings[0]


@base.register('countdown')
@dataclasses.dataclass(frozen=True)
class Countdown(base.Task):
  """Knobs: how many numbers, their range, and the largest target."""
  num_numbers: int = 3
  max_number: int = 99
  max_target: int = 999

  def __post_init__(self):
    if not 2 <= self.num_numbers <= MAX_NUMBERS:
      raise ValueError(f'num_numbers must be in [2, {MAX_NUMBERS}]')

  def generate(self, seed: int, index: int) -> dict[str, Any]:
    rng = self.rng(seed, index)
    for _ in range(1000):
      numbers = [rng.randint(1, self.max_number)
                 for _ in range(self.num_numbers)]
      value, text = _combine(rng, numbers, [str(n) for n in numbers])
      if value.denominator == 1 and 1 <= value <= self.max_target:
        break
    else:  # Always reachable: the sum of the numbers.
      value, text = Fraction(sum(numbers)), ' + '.join(map(str, numbers))
    target = int(value)
    text = text[1:-1] if text.startswith('(') else text
    prompt = (f'Using the numbers {numbers}, create an equation that equals '
              f'{target}. You can use +, -, *, / and parentheses, and each '
              'number must be used exactly once. The final answer is the '
              'expression only, for example (1 + 2) / 3.')
    return dict(id=f'countdown/{seed}/{index}', prompt=prompt, answer=text,
                task=self.name, lang='en', numbers=numbers, target=target)

  def verify(self, answer: str | None, example: Mapping[str, Any]) -> bool:
    if answer is None:
      return False
    result = expr.evaluate(answer)
    if result is None:
      return False
    value, used = result
    return (value == example['target']
            and sorted(used) == sorted(example['numbers']))

  def device_answer(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    numbers_N = np.full((MAX_NUMBERS,), -1, np.int32)
    numbers_N[:len(example['numbers'])] = example['numbers']
    return dict(target=np.int32(example['target']), numbers_N=numbers_N)

  def device_accuracy(self, tokens_BxM, mask_BxM, answers, class_V, tags):
    from r1jax.rewards.device import accuracy  # pylint: disable=g-import-not-at-top
    return accuracy.countdown_accuracy(tokens_BxM, mask_BxM,
                                       answers['target'],
                                       answers['numbers_N'], class_V, tags)
