"""The qwen2.5-1.5b R1-Zero recipe's learner step, lowered (not run) at its
real shapes on a simulated (1, 8, 1) mesh: every activation constraint in
the program shards the batch over the data-parallel axes. A micro-batch
with fewer rows than devices would be silently replicated (every chip
computing the same rows) and fail this test."""
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from configs import r1_zero as r1_zero_config
from r1jax import sharding as shd
from r1jax.models import init_params, presets
from r1jax.sampling import sampler
from r1jax.trainers import common, grpo, grpo_step
from r1jax.trainers import train_state

# sdy.sharding_constraint %x <@mesh, [{"fsdp"}, {}, {}]> : tensor<8x2560xbf16>
_CONSTRAINT = re.compile(
    r"sdy\.sharding_constraint [^<]*<@\w+, \[(?P<dims>.*?)\]>"
    r"\s*:\s*tensor<(?P<shape>[0-9x]+)x\w+>")
_LEGACY = re.compile(r"@Sharding\(%[^)]*\)\s*\{[^}]*mhlo\.sharding = "
                     r"\"(?P<spec>[^\"]*)\"")


def _abstract(tree_shapes, shardings):
  return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype,
                                                          sharding=sh),
                      tree_shapes, shardings)


def _lowered_learner(c):
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  rules = common.rules(c)
  cfg = presets.get(c.model.preset, dtype=common.DTYPES[c.model.dtype],
                    param_dtype=common.DTYPES[c.model.param_dtype],
                    remat=c.model.remat)
  spec = grpo.rl_spec(c, cfg, stop_ids=(151643,), pad_id=151643)
  tx, _ = train_state.make_optimizer(c.optim, 16)
  shapes, axes = shd.abstract_params(lambda r: init_params(cfg, r),
                                     jax.random.key(0))
  params = _abstract(shapes, shd.shardings_for(shapes, axes, mesh, rules))
  rep = NamedSharding(mesh, PartitionSpec())
  opt = jax.tree.map(
      lambda x, sh: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sh),
      jax.eval_shape(tx.init, params), train_state.opt_state_shardings(tx, params))
  scalar = jax.ShapeDtypeStruct((), jnp.int32, sharding=rep)
  state = {"params": params, "opt_state": opt, "step": scalar,
           "bad_steps": scalar}
  r = c.rl
  p, b, t, m = r.num_prompts, r.num_prompts * r.group_size, \
      c.max_prompt_len, r.max_new_tokens
  rows = lambda *s: NamedSharding(  # noqa: E731
      mesh, shd.spec_for(s, ("act_batch",) + (None,) * (len(s) - 1), rules,
                         mesh))
  arr = lambda s, d: jax.ShapeDtypeStruct(s, d, sharding=rows(*s))  # noqa
  comp = sampler.Completions(
      tokens_BxM=arr((b, m), jnp.int32), logp_BxM=arr((b, m), jnp.float32),
      logp_truncated_BxM=arr((b, m), jnp.float32),
      mask_BxM=arr((b, m), jnp.int32), length_B=arr((b,), jnp.int32),
      truncated_B=arr((b,), jnp.bool_))
  learn = jax.jit(grpo_step.make_learn(spec, tx), donate_argnums=(0,))
  key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=rep)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    frozen = {"ref": params, "teacher": None}
    return learn.lower(state, frozen, arr((p, t), jnp.int32),
                       arr((p, t), jnp.int32), comp,
                       arr((b,), jnp.float32), key)


@pytest.fixture(scope="module")
def recipe():
  c = r1_zero_config.get_config("qwen2.5-1.5b")
  c.mesh.shape = (1, 8, 1)
  return c


def _constraints(text):
  found = [(m["dims"], tuple(int(x) for x in m["shape"].split("x")))
           for m in _CONSTRAINT.finditer(text)]
  assert found or not _LEGACY.search(text), "unparsed sharding format"
  return found


def test_every_learner_activation_is_data_parallel(recipe):
  text = _lowered_learner(recipe).as_text()
  found = _constraints(text)
  # Embeddings, attention, MLP and logits of the micro-batch forward (and
  # the old/reference log-prob passes) are all constrained.
  assert len(found) >= 20, len(found)
  rows_per_micro = (recipe.rl.num_prompts * recipe.rl.group_size
                    // (recipe.rl.minibatches * recipe.rl.microbatches))
  assert rows_per_micro == 8
  for dims, shape in found:
    first = dims.split("}", 1)[0]
    assert shape[0] == rows_per_micro, (dims, shape)
    assert '"fsdp"' in first, (dims, shape)


def test_too_many_microbatches_would_replicate(recipe):
  """The check above can fail: 16 rows per minibatch... one row per
  micro-batch leaves the batch unsharded (validation now refuses it)."""
  c = recipe.copy_and_resolve_references()
  c.rl.microbatches = 512
  with pytest.raises(ValueError, match=r"gives 1 rows per piece"):
    grpo.validate(c)
  found = _constraints(_lowered_learner(c).as_text())
  assert found and all('"fsdp"' not in d.split("}", 1)[0]
                       for d, _ in found)
