"""Meshes from config, rule resolution and sharded init."""
import flax.linen as nn
import jax
import numpy as np
import pytest

from r1jax import sharding as shd
from r1jax.models import Transformer, get_preset, init_params


def test_make_mesh_fills_minus_one_and_rejects_misfit():
  assert dict(shd.make_mesh((2, -1, 2)).shape) == dict(data=2, fsdp=2,
                                                       tensor=2)
  assert dict(shd.make_mesh((1, -1, 1)).shape)["fsdp"] == 8
  with pytest.raises(ValueError, match="needs 12 devices"):
    shd.make_mesh((2, 3, 2))
  with pytest.raises(ValueError, match="at most one size may be -1"):
    shd.make_mesh((-1, -1, 2))


def test_spec_drops_axes_that_do_not_divide():
  mesh = shd.make_mesh((2, 2, 2))
  rules = shd.DEFAULT_RULES
  assert shd.spec_for((8, 6), ("act_batch", None), rules, mesh) == (
      jax.sharding.PartitionSpec(("data", "fsdp"), None))
  assert shd.spec_for((2, 6), ("act_batch", None), rules, mesh) == (
      jax.sharding.PartitionSpec("data", None))
  assert shd.spec_for((7, 6), ("heads", "embed"), rules, mesh) == (
      jax.sharding.PartitionSpec(None, "fsdp"))


@pytest.mark.parametrize("preset", ["qwen2.5-0.5b", "qwen2.5-7b",
                                    "llama-3.1-8b"])
def test_real_presets_are_sufficiently_sharded(preset):
  """Shapes only (eval_shape): >= 99% of parameter bytes are split."""
  cfg = get_preset(preset)
  mesh = shd.make_mesh((2, 2, 2))
  shapes, axes = shd.abstract_params(lambda r: init_params(cfg, r),
                                     jax.random.key(0))
  total = split = 0
  for x, s in zip(jax.tree.leaves(shapes),
                  jax.tree.leaves(shd.shardings_for(shapes, axes, mesh,
                                                    shd.DEFAULT_RULES))):
    total += x.size
    per_device = np.prod(s.shard_shape(x.shape))
    split += x.size if per_device <= x.size // 4 else 0
  n = sum(x.size for x in jax.tree.leaves(shapes))
  assert n == cfg.num_params()
  assert split / total >= 0.99


def test_init_sharded_places_params_and_runs():
  cfg = get_preset("tiny")
  mesh = shd.make_mesh((2, 2, 2))
  params, shardings, _ = shd.init_sharded(lambda r: init_params(cfg, r),
                                          jax.random.key(0), mesh)
  assert params["embedding"].sharding == shardings["embedding"]
  assert shd.sharded_fraction(params, min_size=1024) == 1.0
  tokens = np.ones((4, 5), np.int32)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    logits = jax.jit(lambda p, t: Transformer(cfg).apply({"params": p}, t)[0])(
        params, tokens)
  ref, _ = Transformer(cfg).apply({"params": jax.device_get(params)}, tokens)
  np.testing.assert_allclose(logits, ref, atol=1e-5)
