"""Strict format reward, including completions written to hack it."""
import numpy as np
import pytest

from r1jax.rewards import format as fmt
from r1jax.rewards import registry

GOOD = [
    '<think>reason</think><answer>42</answer>',
    '<think>\nreason\n</think>\n<answer>\n42\n</answer>\n',
    '  <think> a b </think>   <answer> x </answer>  ',
]
BAD = [
    '<think>r</think><answer>1</answer><answer>2</answer>',  # Two answers.
    '<think>r</think><answer>1</answer> and more text',  # Text after.
    '<think>r</think> 42 <answer>1</answer>',  # Text between.
    'Sure! <think>r</think><answer>1</answer>',  # Text before.
    '<think></think><answer>1</answer>',  # Empty think.
    '<think>  \n </think><answer>1</answer>',  # Blank think.
    '<think>r</think><answer> </answer>',  # Blank answer.
    '<think>r<think>s</think></think><answer>1</answer>',  # Nested.
    '<think>r</think><answer>1',  # Unclosed answer.
    '<think>r<answer>1</answer>',  # Unclosed think.
    '<answer>1</answer><think>r</think>',  # Wrong order.
    '<think>r</think>',  # No answer.
    'just text',
]


@pytest.mark.parametrize('text', GOOD)
def test_good(text):
  assert fmt.is_formatted(text)


@pytest.mark.parametrize('text', BAD)
def test_bad(text):
  assert not fmt.is_formatted(text)


def test_think_opened_variant():
  body = 'reason</think><answer>42</answer>'
  assert fmt.is_formatted(body, think_opened=True)
  assert not fmt.is_formatted(body)  # Without the flag it always fails.
  assert not fmt.is_formatted('<think>' + body, think_opened=True)
  assert not fmt.is_formatted('</think><answer>4</answer>', think_opened=True)


def test_registered_batch_reward():
  batch = registry.RewardBatch(GOOD + BAD, [{}] * (len(GOOD) + len(BAD)))
  res = registry.get('format')(batch)
  np.testing.assert_array_equal(res.values_B,
                                [1.0] * len(GOOD) + [0.0] * len(BAD))
