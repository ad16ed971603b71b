"""Device length rewards equal the host formulas and jit."""
import jax
import jax.numpy as jnp
import numpy as np

from r1jax.rewards import length as host
from r1jax.rewards.device import length


def test_device_equals_host():
  mask_BxT = (np.arange(120)[None, :] < np.array([[10], [85], [100],
                                                  [120]])).astype(np.int32)
  len_B = jax.jit(length.lengths)(jnp.asarray(mask_BxT))
  np.testing.assert_array_equal(len_B, [10, 85, 100, 120])
  correct_B = np.array([1, 0, 1, 0], bool)
  got = jax.jit(lambda l: length.soft_overlong(l, 100, 20))(len_B)
  np.testing.assert_allclose(got, [0, -0.25, -1, -1])
  np.testing.assert_allclose(
      jax.jit(lambda l, c: length.cosine_length(l, c, 100))(len_B, correct_B),
      host.cosine_length(np.asarray(len_B), correct_B, 100), atol=1e-6)
  np.testing.assert_allclose(
      length.truncation_penalty(jnp.asarray([True, False])), [-1.0, 0.0])
