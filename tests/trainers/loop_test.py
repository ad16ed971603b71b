"""Robustness of the host loop: non-finite updates are skipped and counted;
too many in a row abort with a message naming the config field; Ctrl-C
saves and a rerun resumes to the rows of an uninterrupted run; timing
metrics exclude evals and checkpoints; the default cadence saves."""
import collections
import json
import os
import signal

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from r1jax import checkpoint as ckpt_lib
from r1jax import configlib
from r1jax import sharding as shd
from r1jax.trainers import loop, train_state


def _state(tx):
  mesh = shd.make_mesh((1, -1, 1))
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return train_state.init_state({"w": jax.device_put(jnp.ones((8, 8)), rep)}, tx)


def test_non_finite_update_is_skipped_and_counted():
  tx = optax.sgd(0.1)
  state = _state(tx)
  good = {"w": jnp.full((8, 8), 0.5)}
  bad = {"w": jnp.full((8, 8), jnp.nan)}
  new, _ = train_state.apply_if_finite(state, bad, jnp.float32(1.0), tx)
  np.testing.assert_array_equal(new["params"]["w"], state["params"]["w"])
  assert int(new["bad_steps"]) == 1
  new, _ = train_state.apply_if_finite(new, good, jnp.float32(jnp.inf), tx)
  assert int(new["bad_steps"]) == 2
  new, gnorm = train_state.apply_if_finite(new, good, jnp.float32(1.0), tx)
  assert int(new["bad_steps"]) == 0  # consecutive count resets
  np.testing.assert_allclose(new["params"]["w"], 1.0 - 0.05)
  assert float(gnorm) == pytest.approx(0.5 * 8)


def test_loop_aborts_after_max_bad_steps(tmp_path):
  c = ml_collections.ConfigDict({
      "log": {"every": 1, "samples_every": 0, "max_bad_steps": 3},
      "eval": {"every": 0}, "checkpoint": {"every": -1, "keep": 2}})
  carry = {"x": jnp.zeros(())}

  def step(carry, s):
    return {"x": carry["x"] + 1}, {"bad_steps": jnp.int32(s)}, None

  with pytest.raises(RuntimeError, match=r"config\.log\.max_bad_steps=3"):
    loop.run(c, str(tmp_path), carry, loop.Hooks(step=step), total_steps=10)


def _config(**overrides):
  c = ml_collections.ConfigDict({
      "log": configlib.log_block(), "eval": {"every": 2},
      "checkpoint": configlib.checkpoint_block()})
  c.log.samples_every = 2
  c.checkpoint.every = -1
  c.update_from_flattened_dict(overrides)
  return c


def _hooks(kill_at=None, crash_at=None):
  """A stage without a model: x <- x / 2 + step; evaluated as 2x."""

  def step(carry, s):
    if s == kill_at:  # Ctrl-C while step s runs.
      os.kill(os.getpid(), signal.SIGINT)
    if s == crash_at:
      raise RuntimeError("crash")
    x = carry["x"] / 2 + s
    return {"x": x}, {"loss": x, "bad_steps": jnp.int32(0)}, x

  return loop.Hooks(
      step=step, samples=lambda s, x: {"text": f"x={float(x):.4f}"},
      evaluate=lambda carry, s: {"eval/x": float(carry["x"]) * 2})


def _rows(workdir, name="metrics.jsonl"):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def _untimed(rows):
  return [{k: v for k, v in r.items() if not k.startswith("time/")}
          for r in rows]


def test_ctrl_c_saves_and_reruns_write_no_duplicate_rows(tmp_path):
  run = lambda d, **kw: loop.run(  # noqa: E731
      _config(), str(tmp_path / d), {"x": jnp.zeros(())}, _hooks(**kw),
      total_steps=6)
  _, whole_last = run("whole")
  # Ctrl-C during step 1: saved at 2 (after its eval), then again at 4.
  _, last = run("parts", kill_at=1)
  assert last["loss"] == 1.0
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "parts" / "checkpoints"))
  assert ckpt.all_steps() == [2]
  ckpt.close()
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  assert sorted({r["step"] for r in _rows(tmp_path / "parts")}) == [0, 1, 2]
  run("parts", kill_at=3)
  _, last = run("parts")
  assert _untimed([last]) == _untimed([whole_last])
  # A rerun of the finished run changes nothing and returns the same.
  _, again = run("parts")
  assert again == last
  # A crash before any checkpoint; the rerun starts over at step 0.
  with pytest.raises(RuntimeError, match="crash"):
    run("crashed", crash_at=3)
  run("crashed")
  # Ctrl-C in the last step: saved before the final eval; the rerun does it.
  run("last", kill_at=5)
  _, last = run("last")
  assert _untimed([last]) == _untimed([whole_last])
  want = _untimed(_rows(tmp_path / "whole"))
  assert [r["step"] for r in want] == [0, 1, 2, 2, 3, 4, 4, 5, 6, 6]
  for d in ("parts", "crashed", "last"):
    rows = _rows(tmp_path / d)
    keys = collections.Counter((r["step"], k) for r in rows for k in r
                               if k != "step")
    assert max(keys.values()) == 1, keys
    assert _untimed(rows) == want, d
    assert (_rows(tmp_path / d, "samples.jsonl")
            == _rows(tmp_path / "whole", "samples.jsonl"))


def test_step_time_excludes_eval_and_checkpoint(tmp_path, monkeypatch):
  now = [0.0]

  def step(carry, s):
    now[0] += 2.0  # Each step takes 2 s (and blocks until done).
    return carry, {"loss": np.float32(s)}, None

  def evaluate(carry, s):
    now[0] += 5.0
    return {"eval/x": 1.0}

  save = ckpt_lib.Checkpointer.save

  def slow_save(self, *args, **kw):
    now[0] += 3.0
    return save(self, *args, **kw)

  monkeypatch.setattr(ckpt_lib.Checkpointer, "save", slow_save)
  c = _config(**{"checkpoint.every": 3, "log.samples_every": 0})
  loop.run(c, str(tmp_path), {"x": jnp.zeros(())},
           loop.Hooks(step=step, evaluate=evaluate), total_steps=6,
           tokens_per_step=lambda m: 100.0, flops_per_token=1e10,
           clock=lambda: now[0])
  rows = _rows(tmp_path)
  train = {r["step"]: r for r in rows if "loss" in r}
  evals = {r["step"]: r["time/eval_s"] for r in rows if "eval/x" in r}
  assert evals == {0: 5.0, 2: 5.0, 4: 5.0, 6: 5.0}
  assert {s: r["time/step_s"] for s, r in train.items()} == {
      s: 2.0 for s in range(1, 7)}
  assert {r["time/tokens_per_s"] for r in train.values()} == {50.0}
  assert {r["time/model_tflops"] for r in train.values()} == {0.5}
  # The save at step 3 is reported on the next row.
  assert [s for s, r in train.items() if "time/checkpoint_s" in r] == [4]
  assert train[4]["time/checkpoint_s"] == 3.0
  assert train[5]["time/steps_per_s"] == 0.5
  # ETA: 1 step x (2 s + (5 + 3 + 5) s of evals and saves over 4 steps).
  assert train[5]["time/eta_s"] == 5.25


def test_default_and_time_cadence_save_before_the_end(tmp_path):
  now = [0.0]

  def step(carry, s):
    now[0] += 2.0
    return {"x": carry["x"] + 1}, {"loss": np.float32(s)}, None

  def steps_saved(workdir, **overrides):
    loop.run(_config(**overrides), str(tmp_path / workdir),
             {"x": jnp.zeros(())}, loop.Hooks(step=step), total_steps=6,
             clock=lambda: now[0])
    with ckpt_lib.Checkpointer(str(tmp_path / workdir / "checkpoints")) as c:
      return c.all_steps()

  default = configlib.checkpoint_block()
  assert default.every == 0 and loop.save_every(_config(**{
      "checkpoint.every": 0}), 6) == 1
  assert steps_saved("auto", **{"checkpoint.every": 0}) == [4, 5, 6]
  # Every 0.1 min = 6 s of 2 s steps.
  assert steps_saved("timed", **{"checkpoint.every_minutes": 0.1}) == [3, 6]
  with pytest.raises(ValueError, match=r"config\.checkpoint\.every=-2"):
    loop.save_every(_config(**{"checkpoint.every": -2}), 6)


def test_adamw_moments_are_sharded_like_their_params():
  """On a (1, 8, 1) mesh each device holds 1/8 of both AdamW moments of an
  fsdp-sharded weight, and a jitted update keeps them so (a jit of tx.init
  alone left them replicated: every device held the whole model's mu and
  nu)."""
  mesh = shd.make_mesh((1, 8, 1))
  fsdp = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("fsdp"))
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  params = {"w": jax.device_put(jnp.ones((64, 16)), fsdp),
            "b": jax.device_put(jnp.ones((16,)), rep)}
  tx, _ = train_state.make_optimizer(configlib.optim_block(lr=1e-3), 10)
  state = train_state.init_state(params, tx)
  grads = {"w": jnp.full((64, 16), 0.5), "b": jnp.full((16,), 0.5)}
  new, _ = jax.jit(train_state.apply_if_finite, static_argnums=3)(
      state, grads, jnp.float32(1.0), tx)
  for s in (state, new):
    adam = [x for x in jax.tree.leaves(s["opt_state"]) if x.ndim == 2]
    assert len(adam) == 2  # mu and nu of w
    for x in adam:
      assert x.sharding.is_equivalent_to(fsdp, 2), x.sharding
      assert {sh.data.shape for sh in x.addressable_shards} == {(8, 16)}
    for x in jax.tree.leaves(s["opt_state"]):
      assert x.sharding.mesh == mesh


def test_exit_if_interrupted_after_a_caught_signal():
  """Scripts that chain stages stop after one a signal reached; the flags
  are read once (the next stage starts clean)."""
  ckpt_lib.take_interrupt()
  ckpt_lib.exit_if_interrupted("nothing happened")  # no signal: returns
  with ckpt_lib.PreemptionGuard() as guard:
    os.kill(os.getpid(), signal.SIGTERM)
    assert guard.poll(3) == (True, False)
  with pytest.raises(SystemExit, match="stage x: interrupted"):
    ckpt_lib.exit_if_interrupted("stage x")
  assert ckpt_lib.take_interrupt() == (False, False)
