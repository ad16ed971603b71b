"""Length shaping: DAPO soft overlong penalty, cosine length reward, and a
truncation (no-EOS) penalty.

The formulas take an array module `xp` (numpy here, jax.numpy in
`rewards.device.length`), so host and device rewards share one definition.
Lengths are completion lengths in tokens.
"""
import math

import numpy as np

from r1jax.rewards import accuracy
from r1jax.rewards import registry


def soft_overlong(length_B, max_len: int, cache_len: int, xp=np):
  """DAPO: 0 up to max_len - cache_len, then linear to -1 at max_len, -1
  beyond."""
  start = max_len - cache_len
  ramp_B = (start - length_B) / max(cache_len, 1)
  out_B = xp.where(length_B <= start, 0.0, ramp_B)
  return xp.where(length_B > max_len, -1.0, out_B).astype(xp.float32)


def cosine_length(length_B, correct_B, max_len: int,
                  min_correct: float = 0.5, max_correct: float = 1.0,
                  min_wrong: float = -1.0, max_wrong: float = -0.5, xp=np):
  """Cosine-scaled reward (Yeo et al. 2025, as in open-r1).

  Correct answers score max_correct at length 0 falling to min_correct at
  max_len; wrong answers score min_wrong at length 0 rising to max_wrong
  (shorter correct answers and longer wrong ones are preferred).
  """
  frac_B = xp.minimum(length_B, max_len) / max_len
  cos_B = xp.cos(frac_B * math.pi)
  lo_B = xp.where(correct_B, min_correct, max_wrong)
  hi_B = xp.where(correct_B, max_correct, min_wrong)
  return (lo_B + 0.5 * (hi_B - lo_B) * (1.0 + cos_B)).astype(xp.float32)


def truncation_penalty(truncated_B, penalty: float = -1.0, xp=np):
  """`penalty` where the completion ended without EOS, else 0."""
  return xp.where(truncated_B, penalty, 0.0).astype(xp.float32)


def _lengths(batch: registry.RewardBatch):
  if batch.lengths_B is None:
    raise ValueError('length rewards need RewardBatch.lengths_B (tokens)')
  return np.asarray(batch.lengths_B)


@registry.register('overlong')
def overlong(batch: registry.RewardBatch, max_len: int = 4096,
             cache_len: int = 512) -> registry.RewardResult:
  return registry.RewardResult(
      soft_overlong(_lengths(batch), max_len, cache_len))


@registry.register('cosine')
def cosine(batch: registry.RewardBatch, max_len: int = 4096,
           min_correct: float = 0.5, max_correct: float = 1.0,
           min_wrong: float = -1.0, max_wrong: float = -0.5,
           **accuracy_options) -> registry.RewardResult:
  """Uses the (cached) accuracy reward for correctness."""
  acc = accuracy.accuracy(batch, **accuracy_options)
  values_B = cosine_length(_lengths(batch), acc.values_B > 0.5, max_len,
                           min_correct, max_correct, min_wrong, max_wrong)
  return registry.RewardResult(values_B, failures=acc.failures)


@registry.register('truncation')
def truncation(batch: registry.RewardBatch,
               penalty: float = -1.0) -> registry.RewardResult:
  if batch.truncated_B is None:
    raise ValueError('truncation needs RewardBatch.truncated_B')
  return registry.RewardResult(
      truncation_penalty(np.asarray(batch.truncated_B, bool), penalty))
