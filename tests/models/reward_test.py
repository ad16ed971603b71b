"""Scalar-head reward models: the score is read at the last real token under
left and right padding, and Hugging Face `*ForSequenceClassification`
checkpoints load, score as transformers does, and export back bit for bit.
Published reward-model config.json files (hub_configs/reward/) parse."""
import json
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import torch
import transformers
from safetensors import safe_open

from r1jax import sharding as shd
from r1jax.models import Transformer, hf, init_params, presets, reward
from tests.models import hf_refs

PAD = 0  # pad_token_id of the test RMs; real tokens are drawn from 1..V-1


# --- Read position and hidden states ----------------------------------------
def test_last_real_index():
  seg = np.array([[1, 1, 1, 0, 0],   # right padded
                  [0, 0, 1, 1, 1],   # left padded
                  [1, 1, 1, 1, 1],   # full
                  [0, 1, 1, 2, 0],   # packed, last document
                  [0, 1, 0, 0, 0]], np.int32)
  want = [max(np.nonzero(r)[0]) for r in seg]  # independent re-derivation
  assert reward.last_real_index(jnp.asarray(seg)).tolist() == want


@pytest.mark.parametrize("tied", [True, False])
def test_return_hidden_matches_logits(tied):
  cfg = presets.get("tiny", tie_embeddings=tied)
  tokens = jnp.asarray(np.random.default_rng(0).integers(1, 256, (2, 6)))
  boxed = Transformer(cfg).init(jax.random.key(0), tokens[:, :1],
                                return_hidden=True)["params"]
  assert "lm_head" not in boxed
  params = nn.unbox(init_params(cfg, jax.random.key(1)))
  logits, _ = Transformer(cfg).apply({"params": params}, tokens)
  hidden, cache = Transformer(cfg).apply({"params": params}, tokens,
                                         return_hidden=True)
  assert cache is None and hidden.shape == (2, 6, cfg.embed_dim)
  head = params["embedding"].T if tied else params["lm_head"]
  np.testing.assert_allclose(np.asarray(hidden) @ np.asarray(head),
                             np.asarray(logits), rtol=1e-5, atol=1e-5)


def test_init_and_from_policy_layout():
  cfg = presets.get("tiny", tie_embeddings=False, embed_dim=64, num_heads=8)
  boxed = reward.init_params(cfg, jax.random.key(0))
  assert "lm_head" not in boxed
  assert shd.logical_axes(boxed)[reward.SCORE] == reward.SCORE_AXES
  w = np.asarray(nn.unbox(boxed)[reward.SCORE])
  assert w.shape == (64,) and w.dtype == np.float32
  assert 0.5 < w.std() * math.sqrt(64 + 1) < 1.5  # N(0, 1/sqrt(D+1))
  policy = init_params(cfg, jax.random.key(1))
  rm = reward.from_policy(policy, jax.random.key(2))
  assert set(rm) == set(policy) - {"lm_head"} | {reward.SCORE}
  assert shd.logical_axes(rm) == shd.logical_axes(boxed)
  unboxed = nn.unbox(policy)
  plain = reward.from_policy(unboxed, jax.random.key(2))
  np.testing.assert_array_equal(plain[reward.SCORE],
                                nn.unbox(rm)[reward.SCORE])
  assert plain["layers"] is unboxed["layers"]  # no copy
  assert "lm_head" in unboxed  # the policy's params are left as they were


# --- Against transformers' AutoModelForSequenceClassification ---------------
def _hf_rm(case: str, seed: int = 0):
  """A float32 HF reward model (num_labels 1), every weight random."""
  cls, kw = hf_refs.CASES[case]
  cfg = cls(**kw, num_labels=1, pad_token_id=PAD,
            attn_implementation="eager")
  model = transformers.AutoModelForSequenceClassification.from_config(cfg)
  hf_refs.randomise(model.float().eval(), seed)
  return model


def _batches(lengths, vocab, seed=0):
  """The same rows left- and right-padded: (tokens, mask) twice."""
  rng = np.random.default_rng(seed)
  t = max(lengths)
  out = {s: (np.full((len(lengths), t), PAD, np.int32),
             np.zeros((len(lengths), t), np.int32)) for s in ("left", "right")}
  for i, n in enumerate(lengths):
    row = rng.integers(1, vocab, n)
    for side, sl in (("left", slice(t - n, t)), ("right", slice(0, n))):
      out[side][0][i, sl] = row
      out[side][1][i, sl] = 1
  return out


def _hf_scores(model, tokens, mask):
  positions = np.maximum(np.cumsum(mask, -1) - 1, 0)
  with torch.no_grad():
    out = model(input_ids=torch.tensor(tokens, dtype=torch.long),
                attention_mask=torch.tensor(mask, dtype=torch.long),
                position_ids=torch.tensor(positions, dtype=torch.long))
  return out.logits[:, 0].float().numpy()


@pytest.fixture(scope="module", params=sorted(hf_refs.CASES))
def rm_dir(request, tmp_path_factory):
  model = _hf_rm(request.param)
  path = tmp_path_factory.mktemp(request.param)
  model.save_pretrained(path)
  return request.param, model, path


def test_import_and_export_score_as_transformers(rm_dir, tmp_path):
  name, ref, path = rm_dir
  assert hf.is_reward_model(str(path))
  cfg, params = hf.load(str(path))
  assert reward.SCORE in params and "lm_head" not in params
  assert params[reward.SCORE].shape == (cfg.embed_dim,)
  hf.save(str(tmp_path), cfg, params, pad_token_id=PAD)
  exported = transformers.AutoModelForSequenceClassification.from_pretrained(
      tmp_path, attn_implementation="eager").float().eval()
  assert type(exported).__name__ == type(ref).__name__
  scores = jax.jit(lambda p, t, m: reward.scores(p, cfg, t, m))
  ours = {}
  for side, (tokens, mask) in _batches([7, 3, 5, 1], 96).items():
    ours[side] = np.asarray(scores(params, tokens, mask))
    assert ours[side].dtype == np.float32
    for model in (ref, exported):
      want = _hf_scores(model, tokens, mask)
      scale = max(1.0, np.abs(want).max())
      assert np.abs(ours[side] - want).max() <= 1e-4 * scale, (name, side)
  np.testing.assert_allclose(ours["left"], ours["right"], atol=1e-5)


def test_round_trip_is_bit_identical(rm_dir, tmp_path):
  name, _, path = rm_dir
  cfg, params = hf.load(str(path))
  hf.save(str(tmp_path / "a"), cfg, params, pad_token_id=PAD)
  with safe_open(path / "model.safetensors", "np") as src, \
      safe_open(tmp_path / "a" / "model.safetensors", "np") as out:
    assert set(src.keys()) == set(out.keys()), name
    for k in src.keys():
      np.testing.assert_array_equal(src.get_tensor(k), out.get_tensor(k))
  written = json.loads((tmp_path / "a" / "config.json").read_text())
  family = {"qwen2": "Qwen2", "llama": "Llama"}[cfg.family]
  assert written["architectures"] == [f"{family}ForSequenceClassification"]
  assert (written["id2label"], written["pad_token_id"]) == ({"0": "LABEL_0"},
                                                            PAD)
  cfg2, params2 = hf.load(str(tmp_path / "a"))
  assert cfg2 == cfg
  hf.save(str(tmp_path / "b"), cfg2, params2, pad_token_id=PAD)
  for f in ("config.json", "model.safetensors"):
    assert ((tmp_path / "a" / f).read_bytes()
            == (tmp_path / "b" / f).read_bytes())


def test_bf16_round_trip_is_bit_identical(tmp_path):
  _hf_rm("llama_tied").to(torch.bfloat16).save_pretrained(tmp_path / "src")
  cfg, params = hf.load(str(tmp_path / "src"), param_dtype=jnp.bfloat16)
  assert params[reward.SCORE].dtype == jnp.bfloat16
  hf.save(str(tmp_path / "out"), cfg, params, dtype="bfloat16",
          pad_token_id=PAD)
  with safe_open(tmp_path / "src" / "model.safetensors", "pt") as src, \
      safe_open(tmp_path / "out" / "model.safetensors", "pt") as out:
    assert set(src.keys()) == set(out.keys())
    for k in src.keys():
      a, b = src.get_tensor(k), out.get_tensor(k)
      assert a.dtype == b.dtype == torch.bfloat16
      assert torch.equal(a.view(torch.int16), b.view(torch.int16)), k
  assert np.asarray(params[reward.SCORE]).dtype == ml_dtypes.bfloat16


def test_chunked_and_sharded_scores_equal_one_call(rm_dir):
  _, _, path = rm_dir
  cfg, params1 = hf.load(str(path))
  tokens, mask = _batches([7, 3, 5, 1, 6, 2, 4, 7], 96)["left"]
  f = jax.jit(lambda p, t, m, c: reward.scores(p, cfg, t, m, chunks=c),
              static_argnums=3)
  want = np.asarray(f(params1, tokens, mask, 1))
  np.testing.assert_allclose(np.asarray(f(params1, tokens, mask, 4)), want,
                             atol=1e-5)
  mesh = shd.make_mesh((2, 2, 2))
  _, params8 = hf.load(str(path), mesh=mesh)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    for chunks in (1, 2):  # 2: 4 rows per chunk on 4 batch devices
      np.testing.assert_allclose(np.asarray(f(params8, tokens, mask, chunks)),
                                 want, atol=1e-5)
  with pytest.raises(ValueError, match="chunks=3 must be >= 1 and divide"):
    reward.scores(params1, cfg, tokens, mask, chunks=3)


def test_causal_lm_dir_is_not_a_reward_model(tmp_path):
  hf_refs.make_hf_model("qwen2_untied").save_pretrained(tmp_path)
  assert not hf.is_reward_model(str(tmp_path))
  _, params = hf.load(str(tmp_path))
  assert reward.SCORE not in params and "lm_head" in params


# --- Bad input ---------------------------------------------------------------
@pytest.mark.parametrize("changes,labels", [
    (dict(id2label={"0": "bad", "1": "good"},
          label2id={"bad": 0, "good": 1}), 2),
    (dict(id2label=None, label2id=None), 2),  # transformers' default: 2
])
def test_multi_label_classifier_is_rejected(rm_dir, tmp_path, changes,
                                            labels):
  _, _, path = rm_dir
  d = json.loads((path / "config.json").read_text())
  d.update(changes)
  d = {k: v for k, v in d.items() if v is not None}
  (tmp_path / "config.json").write_text(json.dumps(d))
  with pytest.raises(hf.HFFormatError,
                     match=rf"config.json: \w+ForSequenceClassification with "
                     rf"num_labels={labels} \(from id2label=.*num_labels must"
                     r" be 1"):
    hf.load(str(tmp_path))


def test_save_of_reward_params_needs_pad_token_id(tmp_path):
  cfg = presets.get("tiny")
  params = nn.unbox(reward.init_params(cfg, jax.random.key(0)))
  with pytest.raises(ValueError, match="pad_token_id"):
    hf.save(str(tmp_path), cfg, params)
