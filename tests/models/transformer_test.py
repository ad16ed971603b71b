"""Cache-aware forward: prefill + decode equals one full forward; masks."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.models import Transformer, get_preset, init_cache, init_params
from tests.models import hf_refs

CFG = get_preset("tiny")


@pytest.fixture(scope="module")
def params():
  return nn.unbox(init_params(CFG, jax.random.key(0)))


def _apply(cfg, params, *args):
  return Transformer(cfg).apply({"params": params}, *args)


def test_prefill_then_decode_equals_full_forward(params):
  lengths = [5, 2, 7]
  tokens, mask, positions = hf_refs.left_padded_batch(lengths, 256)
  b, t = tokens.shape
  steps = 6
  rng = np.random.default_rng(3)
  new = rng.integers(1, 256, (b, steps)).astype(np.int32)
  full_tokens = np.concatenate([tokens, new], 1)
  full_mask = np.concatenate([mask, np.ones_like(new)], 1)
  full_pos = np.maximum(np.cumsum(full_mask, -1) - 1, 0).astype(np.int32)
  want, _ = _apply(CFG, params, full_tokens, full_pos, full_mask)

  step = jax.jit(lambda p, *a: _apply(CFG, p, *a))
  cache = init_cache(CFG, b, t + steps + 3)
  got, cache = step(params, tokens, positions, mask, cache)
  outs = [got]
  for i in range(steps):
    logits, cache = step(params, new[:, i:i + 1], full_pos[:, t + i:t + i + 1],
                         np.ones((b, 1), np.int32), cache)
    outs.append(logits)
  got = np.concatenate(outs, 1)
  valid = full_mask.astype(bool)
  assert int(cache["index"]) == t + steps
  np.testing.assert_allclose(got[valid], np.asarray(want)[valid], atol=2e-5)


def test_packed_segments_do_not_attend_across_documents(params):
  a = np.array([[3, 4, 5, 6]], np.int32)
  b = np.array([[7, 8, 9]], np.int32)
  packed = np.concatenate([a, b], 1)
  seg = np.array([[1, 1, 1, 1, 2, 2, 2]], np.int32)
  pos = np.array([[0, 1, 2, 3, 0, 1, 2]], np.int32)
  got, _ = _apply(CFG, params, packed, pos, seg)
  want_a, _ = _apply(CFG, params, a)
  want_b, _ = _apply(CFG, params, b)
  np.testing.assert_allclose(got[:, :4], want_a, atol=1e-5)
  np.testing.assert_allclose(got[:, 4:], want_b, atol=1e-5)


@pytest.mark.parametrize("remat", ["full", "save_dots"])
def test_remat_gives_same_loss_and_grads(params, remat):
  tokens = jnp.arange(12, dtype=jnp.int32).reshape(2, 6) + 1

  def loss(p, cfg):
    logits, _ = _apply(cfg, p, tokens)
    return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[..., 0])

  want_l, want_g = jax.value_and_grad(loss)(params, CFG)
  got_l, got_g = jax.jit(jax.value_and_grad(loss), static_argnums=1)(
      params, CFG.replace(remat=remat))
  np.testing.assert_allclose(got_l, want_l, rtol=1e-6)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-6),
               got_g, want_g)


def test_bf16_compute_keeps_float32_logits_and_params(params):
  cfg = CFG.replace(dtype=jnp.bfloat16)
  tokens = jnp.arange(8, dtype=jnp.int32)[None] + 1
  logits, _ = _apply(cfg, params, tokens)
  want, _ = _apply(CFG, params, tokens)
  assert logits.dtype == jnp.float32
  assert jax.tree.leaves(params)[0].dtype == jnp.float32
  # bf16 has ~3 significant digits: close, not equal.
  assert np.abs(np.asarray(logits) - np.asarray(want)).max() < 0.05


def test_bad_config_is_rejected():
  with pytest.raises(ValueError, match="num_kv_heads"):
    CFG.replace(num_heads=5)
  with pytest.raises(ValueError, match="remat"):
    CFG.replace(remat="sometimes")
