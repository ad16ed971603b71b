"""Length shaping rewards, checked against hand-computed values."""
import math

import numpy as np
import pytest

from r1jax.rewards import length
from r1jax.rewards import registry


def test_soft_overlong_dapo():
  # L_max 100, L_cache 20: free up to 80, linear to -1 at 100, -1 beyond.
  got = length.soft_overlong(np.array([10, 80, 85, 90, 100, 101]), 100, 20)
  np.testing.assert_allclose(got, [0, 0, -0.25, -0.5, -1, -1])


def test_cosine_length():
  got = length.cosine_length(np.array([0, 50, 100, 200, 0, 100]),
                             np.array([1, 1, 1, 1, 0, 0], bool), 100)
  want = [1.0, 0.75, 0.5, 0.5, -1.0, -0.5]
  np.testing.assert_allclose(got, want, atol=1e-6)
  quarter = length.cosine_length(np.array([25]), np.array([True]), 100)
  assert quarter[0] == pytest.approx(0.5 + 0.25 * (1 + math.cos(math.pi / 4)))


def test_truncation_and_registry():
  batch = registry.RewardBatch(
      ['<think>a</think><answer>1</answer>'] * 3,
      [dict(prompt='q', answer='1')] * 3,
      lengths_B=np.array([10, 50, 100]), truncated_B=np.array([0, 0, 1]))
  np.testing.assert_allclose(
      registry.get('truncation')(batch, penalty=-0.5).values_B, [0, 0, -0.5])
  np.testing.assert_allclose(
      registry.get('overlong')(batch, max_len=100, cache_len=50).values_B,
      [0, 0, -1])
  np.testing.assert_allclose(
      registry.get('cosine')(batch, max_len=100).values_B,
      [0.5 + 0.25 * (1 + math.cos(0.1 * math.pi)), 0.75, 0.5], atol=1e-6)


def test_length_rewards_need_lengths():
  with pytest.raises(ValueError, match='lengths_B'):
    registry.get('overlong')(registry.RewardBatch(['x'], [{}]))
