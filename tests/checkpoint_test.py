"""Tests for r1jax.checkpoint on a (2, 2, 2) mesh of simulated CPU devices."""
import json
import os
import signal
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from r1jax import checkpoint
from tests.cpu_flags import xla_flags
from r1jax import sharding as shd
from r1jax.models import presets
from r1jax.models.transformer import init_params

_AUTO = (jax.sharding.AxisType.Auto,) * 3


def _mesh(shape, devices):
  return jax.make_mesh(shape, shd.MESH_AXES, devices=devices,
                       axis_types=_AUTO)


def _specs():
  return {"w": P("fsdp", "tensor"), "b": P("tensor"),
          "emb": P(("data", "fsdp"), None), "h": P(None, "tensor")}


def _state(mesh):
  """Params on `mesh`, adam state, uint32 RNG key data and an int step."""
  rng = np.random.default_rng(0)
  host = {"w": rng.normal(size=(8, 16)).astype(np.float32),
          "b": rng.normal(size=(16,)).astype(np.float32),
          "emb": rng.normal(size=(4, 8)).astype(np.float32),
          "h": rng.normal(size=(2, 4)).astype(jnp.bfloat16)}
  params = {k: jax.device_put(v, NamedSharding(mesh, _specs()[k]))
            for k, v in host.items()}
  opt = optax.adam(1e-2)
  opt_state = opt.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  _, opt_state = opt.update(grads, opt_state, params)  # non-zero moments
  return {"params": params, "opt_state": opt_state,
          "rng": jax.random.key_data(jax.random.key(3)),
          "step": jnp.asarray(7, jnp.int32)}


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
      x.shape, x.dtype, sharding=x.sharding), tree)


def _assert_bitwise(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(la, lb):
    assert x.dtype == y.dtype and x.shape == y.shape
    assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_save_restore_same_and_other_shardings(tmp_path):
  mesh = _mesh((2, 2, 2), jax.devices())
  state = _state(mesh)
  extra = {"data": {"epoch": 1, "index": np.int64(40)}, "note": "x"}
  with checkpoint.Checkpointer(str(tmp_path)) as ckpt:
    assert ckpt.latest_step() is None
    assert ckpt.save(7, state, extra)
    ckpt.wait()
    assert ckpt.latest_step() == 7

    # Same shardings, abstract template.
    got, got_extra = ckpt.restore(_abstract(state))
    _assert_bitwise(got, state)
    assert got_extra == {"data": {"epoch": 1, "index": 40}, "note": "x"}
    for g, s in zip(jax.tree.leaves(got), jax.tree.leaves(state)):
      assert g.sharding == s.sharding

    # Another layout: 4 other devices, other specs; state replicated on 2.
    other = _mesh((1, 1, 4), jax.devices()[4:])
    two = NamedSharding(_mesh((1, 2, 1), jax.devices()[:2]), P())
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        x.shape, x.dtype, sharding=two), state)
    target["params"] = {k: jax.ShapeDtypeStruct(
        v.shape, v.dtype, sharding=NamedSharding(other, P(*spec)))
                        for (k, v), spec in zip(
                            state["params"].items(),
                            [("tensor",), ("tensor",), (None, "tensor"),
                             (None, "tensor")])}
    got, _ = ckpt.restore(target, step=7)
    _assert_bitwise(got, state)
    for g, t in zip(jax.tree.leaves(got), jax.tree.leaves(target)):
      assert g.sharding == t.sharding

    # Concrete arrays work as the template too.
    got, _ = ckpt.restore(state)
    _assert_bitwise(got, state)
    # The same manager also reads back just the params.
    _assert_bitwise(ckpt.restore_params(_abstract(state["params"])),
                    state["params"])


def test_keep_force_and_async(tmp_path):
  mesh = _mesh((2, 2, 2), jax.devices())
  state = _state(mesh)["params"]
  ckpt = checkpoint.Checkpointer(str(tmp_path), keep=2, async_save=True)
  for step in (1, 2, 3):
    assert ckpt.save(step, state, {"step": step})
  ckpt.wait()
  assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3
  assert sorted(os.listdir(tmp_path)) == ["2", "3"]
  assert {"extra", "state"} <= set(os.listdir(tmp_path / "3"))
  # An existing step is skipped unless forced.
  doubled = jax.tree.map(lambda x: x * 2, state)
  assert not ckpt.save(3, doubled, {"step": 3})
  assert ckpt.save(3, doubled, {"step": 33}, force=True)
  ckpt.close()
  # A fresh Checkpointer (a resumed run) sees what the first one wrote.
  ckpt = checkpoint.Checkpointer(str(tmp_path), keep=2)
  got, extra = ckpt.restore(_abstract(state))
  _assert_bitwise(got, doubled)
  assert extra == {"step": 33}
  with pytest.raises(FileNotFoundError):
    checkpoint.Checkpointer(str(tmp_path / "empty")).restore(state)
  ckpt.close()


def test_preemption_guard():
  before = signal.getsignal(signal.SIGTERM)
  with checkpoint.PreemptionGuard() as guard:
    assert not guard.stop_requested(0)
    os.kill(os.getpid(), signal.SIGTERM)
    assert guard.stop_requested(1)
    assert guard.poll(2, due=True) == (True, True)
  assert signal.getsignal(signal.SIGTERM) is before


def test_preemption_guard_ctrl_c_once_stops_twice_aborts():
  before = signal.getsignal(signal.SIGINT)
  with pytest.raises(KeyboardInterrupt, match="second SIGINT"):
    with checkpoint.PreemptionGuard() as guard:
      assert guard.poll(0) == (False, False)
      os.kill(os.getpid(), signal.SIGINT)
      assert guard.stop_requested(1) and guard.signal_name == "SIGINT"
      os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is before


def test_model_config_roundtrip(tmp_path):
  cfg = presets.get("llama-3.2-1b", dtype=jnp.bfloat16, remat="full")
  checkpoint.save_model_config(str(tmp_path), cfg)
  got = checkpoint.load_model_config(str(tmp_path))
  assert got == cfg
  assert isinstance(got.rope_scaling, tuple) and got.dtype is jnp.bfloat16


def test_init_from_hf_and_workdir(tmp_path):
  mesh = _mesh((2, 2, 2), jax.devices())
  cfg = presets.get("tiny")
  # Random values from numpy: compiling the flax init would dominate.
  shapes, axes = shd.abstract_params(lambda r: init_params(cfg, r),
                                     jax.random.key(1))
  shardings = shd.shardings_for(shapes, axes, mesh, shd.DEFAULT_RULES)
  rng = np.random.default_rng(1)
  params = jax.tree.map(lambda s, sh: jax.device_put(
      rng.normal(size=s.shape).astype(s.dtype), sh), shapes, shardings)

  hf_dir = str(tmp_path / "hf")
  checkpoint.export_hf(hf_dir, cfg, params)
  got_cfg, got = checkpoint.init_from(hf_dir, mesh=mesh)
  assert got_cfg.num_layers == cfg.num_layers
  _assert_bitwise(got, params)

  workdir = tmp_path / "work"
  checkpoint.save_model_config(str(workdir), cfg)
  state = {"params": params, "ref_params": params,
           "step": jnp.asarray(5, jnp.int32)}
  with checkpoint.Checkpointer(checkpoint.checkpoints_dir(str(workdir))) as c:
    c.save(5, state, {"pos": 5})
  got_cfg, got = checkpoint.init_from(str(workdir), mesh=mesh)
  assert got_cfg == cfg
  _assert_bitwise(got, params)
  for g, s in zip(jax.tree.leaves(got), jax.tree.leaves(shardings)):
    assert g.sharding == s
  # Overrides apply, e.g. storing params in bfloat16.
  _, got = checkpoint.init_from(str(workdir), mesh=mesh,
                                param_dtype=jnp.bfloat16)
  assert {x.dtype for x in jax.tree.leaves(got)} == {jnp.dtype(jnp.bfloat16)}

  bogus = str(tmp_path / "nothing")
  os.makedirs(bogus)
  with pytest.raises(ValueError, match="nothing"):
    checkpoint.init_from(bogus)


def _two_process_worker(pid: int, port: int, directory: str) -> None:
  """One of two jax.distributed CPU processes (2 devices each)."""
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"localhost:{port}", num_processes=2,
                             process_id=pid)
  mesh = _mesh((1, 4, 1), jax.devices())
  host = np.arange(24, dtype=np.float32).reshape(8, 3)
  w = jax.make_array_from_callback(
      host.shape, NamedSharding(mesh, P("fsdp")), lambda i: host[i])
  state = {"params": {"w": w}, "step": jnp.asarray(6, jnp.int32)}
  ckpt = checkpoint.Checkpointer(directory, keep=2)
  for step in (4, 5, 6):
    ckpt.save(step, state, {"pos": step})
  ckpt.wait()
  replicated = NamedSharding(mesh, P())
  got, extra = ckpt.restore({
      "params": {"w": jax.ShapeDtypeStruct(host.shape, host.dtype,
                                           sharding=replicated)},
      "step": jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated)})
  ckpt.close()
  with checkpoint.PreemptionGuard() as guard:
    # A save timer due on process 0 only: both save.
    stops = [guard.stop_requested(0), guard.poll(0, due=pid == 0)[1]]
    if pid == 1:  # Only one process gets Ctrl-C; both must stop.
      os.kill(os.getpid(), signal.SIGINT)
    stops.append(guard.stop_requested(1))
  print(json.dumps({
      "equal": bool(np.array_equal(got["params"]["w"].addressable_data(0),
                                   host)),
      "sharding_ok": got["params"]["w"].sharding == replicated,
      "steps": ckpt.all_steps(), "extra": extra, "stops": stops}))


def test_two_processes(tmp_path):
  with socket.socket() as s:
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": root,
         "XLA_FLAGS": xla_flags(2)}
  procs = [subprocess.Popen(
      [sys.executable, __file__, str(i), str(port), str(tmp_path / "ckpt")],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  results = []
  for p in procs:
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err[-3000:]
    results.append(json.loads(out.strip().splitlines()[-1]))
  for r in results:
    assert r == {"equal": True, "sharding_ok": True, "steps": [5, 6],
                 "extra": {"pos": 6}, "stops": [False, True, True]}


if __name__ == "__main__":
  _two_process_worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
