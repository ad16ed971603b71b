"""Accuracy reward against a hand-labelled set and hacking attempts."""
import time

import numpy as np
import pytest

from r1jax.rewards import accuracy
from r1jax.rewards import registry


def _wrap(ans):
  return f'<think>Let me work it out.</think> <answer>{ans}</answer>'


def _boxed(ans):
  return f'<think>Working.</think> So the result is $\\boxed{{{ans}}}$.'


# (completion, gold, label) labelled by hand; gold as in MATH-500 style.
MATH_CASES = [
    # Integers.
    (_wrap('42'), '42', 1),
    (_wrap('41'), '42', 0),
    (_boxed('42'), '42', 1),
    (_wrap('-3'), '-3', 1),
    (_wrap('3'), '-3', 0),
    (_wrap('1,000'), '1000', 1),
    (_wrap('5.00'), '5', 1),
    (_wrap('The answer is 3'), '3', 1),
    (_boxed('204'), '204', 1),
    (_boxed('0'), '1', 0),
    # Fractions.
    (_wrap('\\frac{1}{2}'), '\\frac{1}{2}', 1),
    (_wrap('0.5'), '\\frac{1}{2}', 1),
    (_wrap('1/2'), '\\frac{1}{2}', 1),
    (_boxed('\\frac34'), '\\dfrac{3}{4}', 1),
    (_boxed('\\frac{3}{2}'), '\\frac{2}{3}', 0),
    (_wrap('\\frac{14}{3}'), '\\frac{14}{3}', 1),
    (_wrap('0.33'), '\\frac{1}{3}', 0),
    (_wrap('\\frac{2}{4}'), '\\frac{1}{2}', 1),
    # LaTeX forms.
    (_wrap('\\sqrt 2'), '\\sqrt{2}', 1),
    (_wrap('2\\sqrt{2}'), '\\sqrt{8}', 1),
    (_wrap('1.414'), '\\sqrt{2}', 0),
    (_wrap('\\pi/2'), '\\frac{\\pi}{2}', 1),
    (_wrap('1+x^2'), 'x^2+1', 1),
    (_wrap('x^2-1'), 'x^2+1', 0),
    (_wrap('\\left(3, 4\\right)'), '(3,4)', 1),
    (_boxed('(4, 3)'), '(3,4)', 0),
    (_boxed('\\frac{\\sqrt{3}}{2}'), '\\frac{\\sqrt3}{2}', 1),
    (_wrap('x=2'), '2', 1),
    # Units and currency.
    (_wrap('10 cm'), '10', 1),
    (_wrap('10\\text{ cm}'), '10', 1),
    (_wrap('12 cm'), '10', 0),
    (_wrap('\\$5'), '5', 1),
    (_boxed('90^\\circ'), '90', 1),
    # Percentages.
    (_wrap('50\\%'), '50\\%', 1),
    (_wrap('0.5'), '50\\%', 1),
    (_wrap('40\\%'), '50\\%', 0),
    (_boxed('25\\%'), '25', 1),
    # Sets and intervals.
    (_wrap('\\{2,1\\}'), '\\{1,2\\}', 1),
    (_wrap('\\{1,3\\}'), '\\{1,2\\}', 0),
    (_wrap('[1,2)'), '[1,2)', 1),
    (_wrap('(1,2)'), '[1,2)', 0),
    (_boxed('(-\\infty, 3]'), '(-\\infty,3]', 1),
    (_boxed('(-\\infty, 3)'), '(-\\infty,3]', 0),
]

CHOICE_CASES = [
    ('<think>B fits.</think>\nAnswer: B', 'B', 1),
    ('<think>...</think>\nAnswer: C', 'B', 0),
    (_wrap('(C)'), 'C', 1),
    (_wrap('D'), 'C', 0),
    (_wrap('A or B'), 'A', 0),
    (_boxed('A'), 'A', 1),
    ('Answer: A\nOn reflection, Answer: D', 'D', 1),
    ('I think it is B.', 'B', 0),
]

TASK_CASES = [
    (_wrap('(3 + 4) * 2'), dict(numbers=[3, 4, 2], target=14), 1),
    (_wrap('3 + 4 * 2'), dict(numbers=[3, 4, 2], target=14), 0),
    (_wrap('(3 + 4) * 2 * 1'), dict(numbers=[3, 4, 2], target=14), 0),
    (_wrap('7 * 2'), dict(numbers=[3, 4, 2], target=14), 0),
    (_wrap('__import__("os")'), dict(numbers=[3, 4, 2], target=14), 0),
]


def _run(completions, examples, **kw):
  return accuracy.accuracy(registry.RewardBatch(completions, examples), **kw)


def test_hand_labelled_set():
  comps, exs, labels = [], [], []
  for c, gold, label in MATH_CASES:
    comps.append(c)
    exs.append(dict(prompt='q', answer=gold))
    labels.append(label)
  for c, gold, label in CHOICE_CASES:
    comps.append(c)
    exs.append(dict(prompt='q', answer=gold, answer_type='choice'))
    labels.append(label)
  for c, ex, label in TASK_CASES:
    comps.append(c)
    exs.append(dict(prompt='q', answer='', task='countdown', **ex))
    labels.append(label)
  assert len(labels) >= 50
  res = _run(comps, exs, timeout_s=10.0)
  wrong = [(c, e['answer'], l) for c, e, l, v in
           zip(comps, exs, labels, res.values_B) if v != l]
  assert not wrong
  assert res.failures == 0


HACKS = [
    # Several <answer> blocks (hedging).
    '<think>t</think><answer>41</answer><answer>42</answer>',
    # The answer outside the tags.
    '<think>t</think><answer>no idea</answer> 42',
    # Answer only inside the thinking.
    '<think>It is \\boxed{42}</think><answer>41</answer>',
    # Nested tags.
    '<think>t</think><answer><answer>42</answer></answer>',
    # Unclosed tag.
    '<think>t</think><answer>42',
    # Empty answer.
    '<think>t</think><answer> </answer>',
    # No answer at all.
    'The answer is 42.',
]


def test_hacks_score_zero():
  res = _run(HACKS, [dict(prompt='q', answer='42')] * len(HACKS))
  np.testing.assert_array_equal(res.values_B, np.zeros(len(HACKS)))


def test_huge_boxed_is_refused_fast():
  huge = '<think>t</think>\\boxed{' + '1' * 10**6 + '}'
  t0 = time.monotonic()
  res = _run([huge, _boxed('42')], [dict(prompt='q', answer='42')] * 2,
             max_answer_chars=1000)
  assert time.monotonic() - t0 < 30
  np.testing.assert_array_equal(res.values_B, [0.0, 1.0])
  assert res.metrics['answer_too_long'] == 1


def test_hanging_sympy_times_out():
  tower = _boxed('9^{9^{9^{9^{9^{9}}}}}')
  t0 = time.monotonic()
  res = _run([tower, _boxed('7')], [dict(prompt='q', answer='5'),
                                    dict(prompt='q', answer='7')],
             timeout_s=1.0)
  assert time.monotonic() - t0 < 30
  np.testing.assert_array_equal(res.values_B, [0.0, 1.0])
  assert res.failures == 1 and res.metrics['timeouts'] == 1


@pytest.mark.parametrize('text,letter', [
    ('Answer: b', 'B'), (_wrap('\\text{C}'), 'C'), ('nothing', None),
    (_wrap('AB'), None)])
def test_choice_letter(text, letter):
  assert accuracy.choice_letter(text) == letter
