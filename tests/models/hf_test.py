"""HF interop: our logits equal transformers' for imported and exported
models; bad checkpoints raise errors that name the file and the field."""
import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest
import transformers

from r1jax import sharding as shd
from r1jax.models import Transformer, hf
from tests.models import hf_refs


def _ours(cfg, params, tokens, mask, positions):
  logits, _ = Transformer(cfg).apply({"params": params}, tokens, positions,
                                     mask)
  return np.asarray(logits)


@pytest.fixture(scope="module", params=sorted(hf_refs.CASES))
def hf_dir(request, tmp_path_factory):
  model = hf_refs.make_hf_model(request.param)
  path = tmp_path_factory.mktemp(request.param)
  model.save_pretrained(path)
  return request.param, model, str(path)


def test_import_matches_transformers(hf_dir):
  name, model, path = hf_dir
  cfg, params = hf.load(path)
  if name == "qwen2_gqa7_tied":
    assert (cfg.num_heads, cfg.num_kv_heads, cfg.qkv_bias) == (7, 1, True)
  if name == "llama3_scaled_untied":
    assert cfg.rope_scaling == (8.0, 1.0, 4.0, 64)
  tokens, mask, positions = hf_refs.left_padded_batch([9, 3, 6, 1], 96)
  want = hf_refs.hf_logits(model, tokens, mask, positions)
  got = _ours(cfg, params, tokens, mask, positions)
  valid = mask.astype(bool)
  assert np.abs(got[valid] - want[valid]).max() <= 1e-4


def test_export_reloads_in_transformers(hf_dir, tmp_path):
  name, model, path = hf_dir
  cfg, params = hf.load(path)
  hf.save(str(tmp_path), cfg, params)
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(
      str(tmp_path), attn_implementation="eager").float().eval()
  tokens, mask, positions = hf_refs.left_padded_batch([5, 8], 96, seed=1)
  want = hf_refs.hf_logits(model, tokens, mask, positions)
  got = hf_refs.hf_logits(reloaded, tokens, mask, positions)
  valid = mask.astype(bool)
  assert np.abs(got[valid] - want[valid]).max() <= 1e-5, name


def test_sharded_export_has_index_and_reloads(hf_dir, tmp_path):
  _, model, path = hf_dir
  cfg, params = hf.load(path)
  hf.save(str(tmp_path), cfg, params, max_shard_bytes=20_000)
  with open(tmp_path / "model.safetensors.index.json") as f:
    assert len(set(json.load(f)["weight_map"].values())) > 1
  cfg2, params2 = hf.load(str(tmp_path))
  assert cfg2 == cfg
  jax.tree.map(np.testing.assert_array_equal, params, params2)


def test_load_onto_2x2x2_mesh_matches_one_device(hf_dir):
  _, _, path = hf_dir
  cfg, params1 = hf.load(path)
  mesh = shd.make_mesh((2, 2, 2))
  _, params8 = hf.load(path, mesh=mesh)
  tokens, mask, positions = hf_refs.left_padded_batch([7, 2, 5, 4], 96)
  want = _ours(cfg, params1, tokens, mask, positions)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    got = jax.jit(_ours_jit(cfg))(params8, tokens, mask, positions)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
  for path, x in jax.tree_util.tree_flatten_with_path(params8)[0]:
    assert len(x.sharding.device_set) == 8
    if x.size >= 1024:  # every large parameter is split, not replicated
      assert not x.sharding.is_fully_replicated, (path, x.sharding)


def _ours_jit(cfg):
  def f(params, tokens, mask, positions):
    return Transformer(cfg).apply({"params": params}, tokens, positions,
                                  mask)[0]
  return f


# --- Bad input ---------------------------------------------------------------
def _write_cfg(tmp_path, **changes):
  cfg = hf_refs.CASES["qwen2_untied"][0](**hf_refs.CASES["qwen2_untied"][1])
  d = json.loads(cfg.to_json_string(use_diff=True))
  d["architectures"] = ["Qwen2ForCausalLM"]
  d.update(changes)
  for k, v in list(d.items()):
    if v is _DROP:
      del d[k]
  path = tmp_path / "config.json"
  path.write_text(json.dumps(d))
  return d


_DROP = object()


@pytest.mark.parametrize("changes,match", [
    (dict(architectures=["MistralForCausalLM"]),
     r"config.json: architecture 'MistralForCausalLM' is not supported"),
    (dict(frobnicate=3), r"config.json: unknown config field 'frobnicate'"),
    (dict(hidden_act="gelu"), r"config.json: field hidden_act='gelu'"),
    (dict(rope_scaling={"rope_type": "yarn", "factor": 4.0}),
     r"config.json: rope_scaling type 'yarn' is not supported"),
    (dict(use_sliding_window=True), r"config.json: field use_sliding_window"),
    (dict(hidden_size=_DROP),
     r"config.json: required field 'hidden_size' is missing"),
])
def test_bad_config_fields(tmp_path, changes, match):
  _write_cfg(tmp_path, **changes)
  with pytest.raises(hf.HFFormatError, match=match):
    hf.load(str(tmp_path))


def test_missing_weights_file(tmp_path):
  _write_cfg(tmp_path)
  with pytest.raises(hf.HFFormatError, match="neither model.safetensors"):
    hf.load(str(tmp_path))


def test_missing_shard(tmp_path):
  hf_refs.make_hf_model("qwen2_untied").save_pretrained(tmp_path / "src")
  cfg, params = hf.load(str(tmp_path / "src"))
  hf.save(str(tmp_path / "out"), cfg, params, max_shard_bytes=20_000)
  index = json.loads((tmp_path / "out/model.safetensors.index.json")
                     .read_text())
  second = sorted(set(index["weight_map"].values()))[1]
  os.remove(tmp_path / "out" / second)
  with pytest.raises(hf.HFFormatError,
                     match=rf"index.json: shard file '{second}' is missing"):
    hf.load(str(tmp_path / "out"))


def test_shape_mismatch_and_missing_tensor(tmp_path):
  model = hf_refs.make_hf_model("qwen2_untied")
  model.save_pretrained(tmp_path)
  d = json.loads((tmp_path / "config.json").read_text())
  d["intermediate_size"] = 72
  (tmp_path / "config.json").write_text(json.dumps(d))
  with pytest.raises(hf.HFFormatError,
                     match=r"model.safetensors: tensor 'model.layers.0.mlp"
                     r"\.(gate|up|down)_proj.weight' has shape"):
    hf.load(str(tmp_path))
  d["intermediate_size"] = 64
  d["tie_word_embeddings"] = False
  d["num_hidden_layers"] = 4
  (tmp_path / "config.json").write_text(json.dumps(d))
  with pytest.raises(hf.HFFormatError,
                     match=r"tensor 'model.layers.3.* is missing"):
    hf.load(str(tmp_path))
