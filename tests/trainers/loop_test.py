"""Robustness of the host loop: non-finite updates are skipped and counted;
too many in a row abort with a message naming the config field."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from r1jax import sharding as shd
from r1jax.trainers import common, loop


def _state(tx):
  mesh = shd.make_mesh((1, -1, 1))
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return common.init_state({"w": jax.device_put(jnp.ones((8, 8)), rep)}, tx)


def test_non_finite_update_is_skipped_and_counted():
  tx = optax.sgd(0.1)
  state = _state(tx)
  good = {"w": jnp.full((8, 8), 0.5)}
  bad = {"w": jnp.full((8, 8), jnp.nan)}
  new, _ = common.apply_if_finite(state, bad, jnp.float32(1.0), tx)
  np.testing.assert_array_equal(new["params"]["w"], state["params"]["w"])
  assert int(new["bad_steps"]) == 1
  new, _ = common.apply_if_finite(new, good, jnp.float32(jnp.inf), tx)
  assert int(new["bad_steps"]) == 2
  new, gnorm = common.apply_if_finite(new, good, jnp.float32(1.0), tx)
  assert int(new["bad_steps"]) == 0  # consecutive count resets
  np.testing.assert_allclose(new["params"]["w"], 1.0 - 0.05)
  assert float(gnorm) == pytest.approx(0.5 * 8)


def test_loop_aborts_after_max_bad_steps(tmp_path):
  c = ml_collections.ConfigDict({
      "log": {"every": 1, "samples_every": 0, "max_bad_steps": 3},
      "eval": {"every": 0}, "checkpoint": {"every": 0, "keep": 2}})
  carry = {"x": jnp.zeros(())}

  def step(carry, s):
    return {"x": carry["x"] + 1}, {"bad_steps": jnp.int32(s)}, None

  with pytest.raises(RuntimeError, match=r"config\.log\.max_bad_steps=3"):
    loop.run(c, str(tmp_path), carry, loop.Hooks(step=step), total_steps=10)
