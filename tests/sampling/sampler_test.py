"""Sampler vs transformers' greedy generate, exact log-probs, group sharing,
and the simulated (2, 2, 2) mesh."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from r1jax import sharding as shd
from r1jax.models import Transformer, get_preset, hf, init_params
from r1jax.sampling import Sampling, jit_sample, left_pad, sample
from r1jax.sampling import sampler as sampler_lib
from tests.models import hf_refs

PROMPTS = [[5, 17, 3, 9, 40, 41, 7], [11, 2], [60, 61, 62, 63, 64]]


@pytest.mark.parametrize("name", ["qwen2_gqa7_tied", "llama3_scaled_untied"])
def test_greedy_equals_transformers_generate(name, tmp_path):
  model = hf_refs.make_hf_model(name)
  model.save_pretrained(tmp_path)
  cfg, params = hf.load(str(tmp_path))
  tokens, mask = left_pad(PROMPTS, length=8)
  out = jit_sample(params, cfg, tokens, mask, jax.random.key(0),
                   max_new_tokens=32, sampling=Sampling(greedy=True))
  with torch.no_grad():
    ref = model.generate(
        input_ids=torch.tensor(tokens, dtype=torch.long),
        attention_mask=torch.tensor(mask, dtype=torch.long),
        max_new_tokens=32, min_new_tokens=32, do_sample=False,
        pad_token_id=0, eos_token_id=None)
  np.testing.assert_array_equal(np.asarray(out.tokens_BxM),
                                ref[:, tokens.shape[1]:].numpy())
  assert np.asarray(out.truncated_B).all()  # no stop ids: all truncated


CFG = get_preset("tiny")


@pytest.fixture(scope="module")
def params():
  return nn.unbox(init_params(CFG, jax.random.key(1)))


def _full_logp(params, tokens, mask, out, temperature):
  """Temperature-scaled log-softmax of one forward over prompt+completion."""
  full = np.concatenate([tokens, np.asarray(out.tokens_BxM)], 1)
  seg = np.concatenate([mask, np.asarray(out.mask_BxM)], 1)
  pos = np.maximum(np.cumsum(seg, -1) - 1, 0)
  logits, _ = Transformer(CFG).apply({"params": params}, full, pos, seg)
  logp = jax.nn.log_softmax(np.asarray(logits) / temperature, -1)
  t = tokens.shape[1]
  pred = np.asarray(logp)[:, t - 1:-1]
  return np.take_along_axis(pred, np.asarray(out.tokens_BxM)[..., None],
                            -1)[..., 0]


@pytest.mark.parametrize("sampling", [
    Sampling(temperature=0.7), Sampling(temperature=1.0, top_p=0.9),
    Sampling(temperature=1.3, top_k=20)])
def test_logprobs_equal_full_forward(params, sampling):
  tokens, mask = left_pad(PROMPTS)
  out = jit_sample(params, CFG, tokens, mask,
                   jax.random.key(3), max_new_tokens=12, sampling=sampling,
                   num_samples=2)
  tokens, mask = np.repeat(tokens, 2, 0), np.repeat(mask, 2, 0)
  want = _full_logp(params, tokens, mask, out, sampling.temperature)
  m = np.asarray(out.mask_BxM).astype(bool)
  np.testing.assert_allclose(np.asarray(out.logp_BxM)[m], want[m], atol=1e-4)


def test_stop_ids_stop_rows_and_report_truncation(params):
  tokens, mask = left_pad(PROMPTS)
  out = jit_sample(params, CFG, tokens, mask, jax.random.key(0),
                   max_new_tokens=40, sampling=Sampling(temperature=1.0),
                   stop_ids=tuple(range(0, 256, 3)), num_samples=4)
  toks, m = np.asarray(out.tokens_BxM), np.asarray(out.mask_BxM)
  length = np.asarray(out.length_B)
  for i in range(toks.shape[0]):
    n = length[i]
    assert m[i].sum() == n and m[i, :n].all()
    assert all(x % 3 for x in toks[i, :n - 1])  # no stop before the end
    stopped = toks[i, n - 1] % 3 == 0
    assert bool(out.truncated_B[i]) == (not stopped)
    assert stopped or n == 40
    assert (toks[i, n:] == 0).all()


def test_shared_prefill_equals_prefilling_each_copy(params):
  tokens, mask = left_pad(PROMPTS)
  kw = dict(max_new_tokens=10, sampling=Sampling(temperature=1.0, top_k=50))
  shared = jit_sample(params, CFG, tokens, mask, jax.random.key(7),
                      num_samples=3, **kw)
  copies = jit_sample(params, CFG, np.repeat(tokens, 3, 0),
                      np.repeat(mask, 3, 0), jax.random.key(7), **kw)
  np.testing.assert_array_equal(shared.tokens_BxM, copies.tokens_BxM)
  np.testing.assert_allclose(shared.logp_BxM, copies.logp_BxM, atol=1e-5)
  # Samples of one prompt differ from each other (the RNG is per row).
  assert len({tuple(r) for r in np.asarray(shared.tokens_BxM)[:3]}) > 1


def test_mesh_2x2x2_equals_one_device(params):
  tokens, mask = left_pad(PROMPTS + [[1, 2, 3]])
  kw = dict(max_new_tokens=8, sampling=Sampling(temperature=1.0),
            num_samples=2)
  want = jit_sample(params, CFG, tokens, mask, jax.random.key(5), **kw)
  mesh = shd.make_mesh((2, 2, 2))
  placed, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(1), mesh)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    got = jax.jit(lambda p, t, m, r: sample(p, CFG, t, m, r, **kw))(
        placed, tokens, mask, jax.random.key(5))
  np.testing.assert_array_equal(got.tokens_BxM, want.tokens_BxM)
  np.testing.assert_allclose(got.logp_BxM, want.logp_BxM, atol=1e-5)


def test_bfloat16_cache_stays_close_to_float32(params):
  """A bf16 KV cache (the accelerator default) changes log-probs only at
  bf16 rounding level against the float32 full forward."""
  tokens, mask = left_pad(PROMPTS)
  out = jit_sample(params, CFG, tokens, mask, jax.random.key(2),
                   max_new_tokens=12, sampling=Sampling(temperature=1.0),
                   cache_dtype=jnp.bfloat16)
  want = _full_logp(params, tokens, mask, out, 1.0)
  m = np.asarray(out.mask_BxM).astype(bool)
  err = np.abs(np.asarray(out.logp_BxM)[m] - want[m])
  assert 1e-4 < err.max() < 0.05, err.max()  # > 1e-4: the cache is bf16


def test_per_row_keys_make_rows_independent_of_the_batch(params):
  """With per-row keys a row's completion depends on its prompt and key
  only: the same rows in another order, among other rows, or with a
  two-level draw (V > TWO_LEVEL_MIN_VOCAB is exercised in strategies_test)
  come out the same; different keys give different rows."""
  kw = dict(max_new_tokens=10, sampling=Sampling(temperature=1.0, top_p=0.95))
  keys = jax.random.split(jax.random.key(11), len(PROMPTS))
  tokens, mask = left_pad(PROMPTS)
  full = jit_sample(params, CFG, tokens, mask, keys, **kw)
  order = [2, 0]
  tokens2, mask2 = left_pad([PROMPTS[i] for i in order], length=tokens.shape[1])
  part = jit_sample(params, CFG, tokens2, mask2, keys[np.array(order)], **kw)
  np.testing.assert_array_equal(np.asarray(part.tokens_BxM),
                                np.asarray(full.tokens_BxM)[order])
  np.testing.assert_allclose(np.asarray(part.logp_BxM),
                             np.asarray(full.logp_BxM)[order], atol=1e-6)
  same_prompt = jit_sample(params, CFG, np.repeat(tokens[:1], 4, 0),
                           np.repeat(mask[:1], 4, 0),
                           jax.random.split(jax.random.key(2), 4), **kw)
  assert len({tuple(r) for r in np.asarray(same_prompt.tokens_BxM)}) > 1


@pytest.mark.parametrize("per_row_keys,stop_ids", [
    (False, tuple(range(0, 256, 3))), (True, ())])
def test_length_buckets_equal_whole_cache_decode(params, per_row_keys,
                                                 stop_ids):
  """Decode in phases over a prefix of the cache (buckets 17, 32, 53 slots
  for T = 16, M = 37) gives the tokens and log-probs of attending over the
  whole cache every step: early stop, per-row keys, G > 1."""
  tokens, mask = left_pad(PROMPTS)
  g, m = 3, 37
  keys = (jax.random.split(jax.random.key(4), len(PROMPTS) * g)
          if per_row_keys else jax.random.key(4))
  kw = dict(max_new_tokens=m, num_samples=g, stop_ids=stop_ids,
            sampling=Sampling(temperature=1.0, top_p=0.95))
  whole = jit_sample(params, CFG, tokens, mask, keys, kv_bucket_ratio=None,
                     **kw)
  phased = jit_sample(params, CFG, tokens, mask, keys, kv_bucket_ratio=2.0,
                      kv_bucket_min=12, **kw)
  assert sampler_lib.kv_buckets(tokens.shape[1], m, 2.0, 12) == (17, 32, 53)
  for a, b in zip(whole, phased):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
  np.testing.assert_array_equal(whole.tokens_BxM, phased.tokens_BxM)
  lengths = np.asarray(whole.length_B)
  if stop_ids:  # rows stop at different steps, all before M
    assert len(set(lengths)) > 1 and lengths.max() < m, lengths
  else:
    assert (lengths == m).all()
