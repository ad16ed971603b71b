"""Repetition penalty and reflective-word counts."""
import numpy as np
import pytest

from r1jax.rewards import registry
from r1jax.rewards import repetition


def test_repetition_penalty():
  assert repetition.repetition_penalty('a b c d e') == 0.0
  # 'a b a b a b': 4 trigrams, 2 distinct -> -0.5.
  assert repetition.repetition_penalty('a b a b a b') == pytest.approx(-0.5)
  assert repetition.repetition_penalty('x x x x x', max_penalty=-2.0) == (
      pytest.approx(-2.0 * (1 - 1 / 3)))
  assert repetition.repetition_penalty('too short') == 0.0


def test_reflective_count_in_cot_only():
  comps = ['<think>Wait, wait. Let me check. However it is wrong.</think>'
           '<answer>wait</answer>', '<think>plain</think><answer>1</answer>']
  res = registry.get('reflection')(registry.RewardBatch(comps, [{}, {}]))
  np.testing.assert_array_equal(res.values_B, [5.0, 0.0])
  assert repetition.reflective_count('checking verify butter') == 1
