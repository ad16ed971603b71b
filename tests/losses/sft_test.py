"""Next-token loss and token log-probs vs a numpy log-sum-exp by hand."""
import math

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from r1jax import losses

B, T, V = 3, 6, 13


def _inputs():
  rng = np.random.default_rng(0)
  logits = 3.0 * rng.normal(size=(B, T, V))
  tokens = rng.integers(0, V, (B, T))
  mask = rng.integers(0, 2, (B, T))
  mask[:, -1] = 1  # Has no target: must be ignored.
  mask[:, 1] = 1
  tokens[:, 2] = logits[:, 1].argmax(-1)  # Some targets are the argmax.
  return logits, tokens, mask


def _np_logp(z, target, temperature=1.0):
  z = [float(v) / temperature for v in z]
  top = max(z)
  lse = top + math.log(sum(math.exp(v - top) for v in z))
  return z[target] - lse


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
def test_next_token_loss_matches_numpy(dtype):
  logits, tokens, mask = _inputs()
  logits = logits.astype(dtype)  # The reference reads the rounded values.
  nll, count, correct = 0.0, 0, 0
  for b in range(B):
    for t in range(T - 1):
      if mask[b, t]:
        z = logits[b, t].astype(np.float64)
        nll -= _np_logp(z, tokens[b, t + 1])
        count += 1
        correct += int(np.argmax(z) == tokens[b, t + 1])
  got = losses.next_token_loss(jnp.asarray(logits), jnp.asarray(tokens),
                               jnp.asarray(mask, jnp.int32))
  assert got[0].dtype == jnp.float32
  np.testing.assert_allclose(got[0], nll, rtol=1e-5)
  assert (int(got[1]), int(got[2])) == (count, correct)
  assert 0 < correct < count  # Both branches of the accuracy count.


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_logp_in_float32_at_temperature(temperature):
  logits, tokens, _ = _inputs()
  logits = logits.astype(ml_dtypes.bfloat16)
  got = losses.token_logp(jnp.asarray(logits), jnp.asarray(tokens),
                          temperature)
  want = [[_np_logp(logits[b, t].astype(np.float64), tokens[b, t],
                    temperature) for t in range(T)] for b in range(B)]
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
