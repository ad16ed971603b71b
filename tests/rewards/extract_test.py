"""Answer and chain-of-thought extraction."""
import pytest

from r1jax.rewards import extract


@pytest.mark.parametrize('text,answer', [
    ('<think>x</think><answer> 42 </answer>', '42'),
    ('<think>\\boxed{1}</think> so \\boxed{2}', '2'),
    ('\\boxed{1} then \\boxed{\\frac{a}{b}}', '\\frac{a}{b}'),
    ('<think>x</think><answer>1</answer><answer>2</answer>', None),
    ('<think>x</think><answer>1', None),
    ('<think>x</think>1</answer>', None),
    ('<think>x</think> \\boxed{1', None),
    ('no answer', None),
    ('<think><answer>5</answer></think><answer>6</answer>', '6'),
])
def test_extract_answer(text, answer):
  assert extract.extract_answer(text) == answer


def test_think_section():
  assert extract.think_section('<think>abc</think>x') == 'abc'
  assert extract.think_section('abc</think>x', think_opened=True) == 'abc'
  assert extract.think_section('<think>unclosed') == 'unclosed'


def test_many_unclosed_boxes_stay_fast():
  text = '\\boxed{1} ' + '\\boxed{' * 200000
  assert extract.extract_answer(text) is None
