"""The config.json files as published on the Hub (hub_configs/, sources in
its README) load: at full size with the shapes they state, and as tiny bf16
checkpoints that keep every non-size field verbatim, with transformers'
logits. Forward-changing fields we do not implement still raise."""
import copy
import json
import pathlib
import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import torch
import transformers
from safetensors import safe_open

from r1jax.models import Transformer, hf, hf_fields, presets
from tests.models import hf_refs

HUB = pathlib.Path(__file__).parent / "hub_configs"
FILES = sorted(p.name for p in HUB.glob("*.json"))

# Stored file -> our preset of the same checkpoint (or of its base model:
# then max_position_embeddings, which instruct files may change, is skipped).
PRESET_OF = {
    "Qwen--Qwen2.5-0.5B.json": ("qwen2.5-0.5b", True),
    "Qwen--Qwen2.5-1.5B-Instruct.json": ("qwen2.5-1.5b", False),
    "Qwen--Qwen2.5-3B.json": ("qwen2.5-3b", True),
    "Qwen--Qwen2.5-7B.json": ("qwen2.5-7b", True),
    "meta-llama--Llama-3.1-8B.json": ("llama-3.1-8b", True),
    "meta-llama--Llama-3.1-8B-Instruct.json": ("llama-3.1-8b", False),
    "meta-llama--Llama-3.2-1B.json": ("llama-3.2-1b", True),
    "meta-llama--Llama-3.2-1B-Instruct.json": ("llama-3.2-1b", False),
    "meta-llama--Llama-3.2-3B.json": ("llama-3.2-3b", True),
}
_SHAPE = ("vocab_size", "num_layers", "embed_dim", "num_heads", "num_kv_heads",
          "head_dim", "mlp_dim", "rope_theta", "rope_scaling", "norm_eps",
          "qkv_bias", "tie_embeddings", "family")


def _published(name: str) -> dict:
  return json.loads((HUB / name).read_text())


def _expected(d: dict) -> dict:
  """ModelConfig fields as the JSON states them (independent of hf.py)."""
  n = d["num_attention_heads"]
  s = d.get("rope_scaling")
  return dict(
      vocab_size=d["vocab_size"], num_layers=d["num_hidden_layers"],
      embed_dim=d["hidden_size"], num_heads=n,
      num_kv_heads=d.get("num_key_value_heads", n),
      head_dim=d.get("head_dim", d["hidden_size"] // n),
      mlp_dim=d["intermediate_size"], rope_theta=float(d["rope_theta"]),
      rope_scaling=s and (s["factor"], s["low_freq_factor"],
                          s["high_freq_factor"],
                          s["original_max_position_embeddings"]),
      norm_eps=d["rms_norm_eps"], qkv_bias=d["model_type"] == "qwen2",
      tie_embeddings=d.get("tie_word_embeddings", False),
      family=d["model_type"], max_seq_len=d["max_position_embeddings"])


def test_field_classes_are_disjoint():
  constrained = set(hf_fields.CONSTRAINED)
  assert not hf_fields.MAPPED & hf_fields.IGNORED
  assert not (hf_fields.MAPPED | hf_fields.IGNORED) & constrained


@pytest.mark.parametrize("name", FILES)
def test_published_file_parses_at_full_size(name):
  cfg = hf.config_from_hf(_published(name), str(HUB / name))
  want = _expected(_published(name))
  assert {k: getattr(cfg, k) for k in want} == want


@pytest.mark.parametrize("name", sorted(PRESET_OF))
def test_presets_match_published_files(name):
  preset, same_checkpoint = PRESET_OF[name]
  got = presets.get(preset)
  want = _expected(_published(name))
  fields = _SHAPE + (("max_seq_len",) if same_checkpoint else ())
  assert ({k: getattr(got, k) for k in fields}
          == {k: want[k] for k in fields}), preset


# --- Tiny bf16 checkpoints with the published field set ----------------------
def _shrink(d: dict) -> dict:
  """Tiny sizes (GQA ratio kept); every other field verbatim, in order."""
  n, k = d["num_attention_heads"], d["num_key_value_heads"]
  kv = 2 if n // k <= 4 else 1
  heads, head_dim = kv * (n // k), 16
  small = dict(num_attention_heads=heads, num_key_value_heads=kv,
               num_hidden_layers=2, intermediate_size=96, vocab_size=128,
               hidden_size=heads * head_dim)
  if "head_dim" in d:  # then the width need not be heads * head_dim
    small.update(head_dim=head_dim, hidden_size=heads * head_dim // 2)
  return {key: small.get(key, value) for key, value in d.items()}


@pytest.fixture(scope="module", params=FILES)
def bf16_checkpoint(request, tmp_path_factory):
  """(file name, dir of a bf16 checkpoint whose config.json is the shrunk
  published dict, transformers' float32 model of the same bf16 weights)."""
  name = request.param
  small = _shrink(_published(name))
  model = transformers.AutoModelForCausalLM.from_config(  # (it edits dicts)
      transformers.AutoConfig.for_model(**copy.deepcopy(small)))
  hf_refs.randomise(model, seed=FILES.index(name))
  path = tmp_path_factory.mktemp(name.removesuffix(".json"))
  model.to(torch.bfloat16).save_pretrained(path)
  # As users have it: the published fields, not what transformers 5 writes.
  (path / "config.json").write_text(json.dumps(small, indent=2) + "\n")
  ref = transformers.AutoModelForCausalLM.from_pretrained(
      path, dtype=torch.float32, attn_implementation="eager").eval()
  return name, path, ref


def test_bf16_checkpoint_logits_match_transformers(bf16_checkpoint):
  name, path, ref = bf16_checkpoint
  with safe_open(path / "model.safetensors", framework="numpy") as f:
    assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
  assert json.loads((path / "config.json").read_text()) == _shrink(
      _published(name))
  cfg, params = hf.load(str(path))
  assert params["embedding"].dtype == jnp.float32
  tokens, mask, positions = hf_refs.left_padded_batch([7, 3, 5, 1], 128)
  want = hf_refs.hf_logits(ref, tokens, mask, positions)
  got, _ = Transformer(cfg).apply({"params": params}, tokens, positions, mask)
  valid = mask.astype(bool)
  scale = np.abs(want[valid]).max()
  assert np.abs(np.asarray(got)[valid] - want[valid]).max() <= 1e-4 * scale


@pytest.mark.parametrize("bf16_checkpoint", ["meta-llama--Llama-3.2-1B.json"],
                         indirect=True)
def test_bf16_checkpoint_loads_as_bf16_params(bf16_checkpoint):
  _, path, _ = bf16_checkpoint
  _, p32 = hf.load(str(path))
  _, p16 = hf.load(str(path), param_dtype=jnp.bfloat16)
  for k in p16["layers"]["attn"]:
    assert p16["layers"]["attn"][k].dtype == jnp.bfloat16
  with safe_open(path / "model.safetensors", framework="pt") as f:
    stored = f.get_tensor("model.embed_tokens.weight").view(torch.int16)
  emb = np.asarray(p16["embedding"])
  assert emb.dtype == ml_dtypes.bfloat16
  np.testing.assert_array_equal(emb.view(np.int16), stored.numpy())
  for a, b in zip(jax.tree.leaves(p16), jax.tree.leaves(p32)):
    np.testing.assert_array_equal(np.asarray(a).astype(np.float32),
                                  np.asarray(b))


# --- Fields we do not implement still raise, naming file and field -----------
@pytest.mark.parametrize("name,changes,match", [
    ("Qwen--Qwen2.5-0.5B.json", dict(hidden_act="gelu"),
     r"field hidden_act='gelu' is not supported"),
    ("Qwen--Qwen2.5-0.5B.json", dict(use_sliding_window=True),
     r"field use_sliding_window=True"),
    ("Qwen--Qwen2.5-0.5B.json", dict(use_mrope=True), r"field use_mrope=True"),
    ("Qwen--Qwen2.5-0.5B.json", dict(attention_dropout=0.1),
     r"field attention_dropout=0.1"),
    ("Qwen--Qwen2.5-0.5B.json",
     dict(rope_scaling={"factor": 4.0, "original_max_position_embeddings":
                        32768, "type": "yarn"}),
     r"rope_scaling type 'yarn' is not supported"),
    ("Qwen--Qwen2.5-0.5B.json",
     dict(layer_types=["full_attention"] * 23 + ["sliding_attention"]),
     r"field layer_types=\[.*\] is not supported"),
    ("Qwen--Qwen2.5-0.5B.json", dict(frobnicate=1),
     r"unknown config field 'frobnicate'"),
    ("meta-llama--Llama-3.2-1B.json", dict(attention_bias=True),
     r"field attention_bias=True"),
    ("meta-llama--Llama-3.2-1B.json", dict(mlp_bias=True),
     r"field mlp_bias=True"),
    ("meta-llama--Llama-3.2-1B.json", dict(pretraining_tp=0),
     r"field pretraining_tp=0"),
    ("meta-llama--Llama-3.2-1B.json",
     dict(rope_scaling={"factor": 2.0, "rope_type": "dynamic"}),
     r"rope_scaling type 'dynamic' is not supported"),
    ("meta-llama--Llama-3.1-8B.json", dict(hidden_act="gelu"),
     r"field hidden_act='gelu'"),
])
def test_unsupported_fields_raise(tmp_path, name, changes, match):
  (tmp_path / "config.json").write_text(
      json.dumps({**_published(name), **changes}, indent=2))
  path = re.escape(str(tmp_path / "config.json"))
  with pytest.raises(hf.HFFormatError, match=f"{path}: {match}"):
    hf.load(str(tmp_path))


@pytest.mark.parametrize("changes", [
    dict(pretraining_tp=2),  # a matmul slicing order; the same product
    dict(rope_scaling=None, rope_theta=500000),
    dict(eos_token_id=[128001, 128008, 128009]),
])
def test_forward_neutral_variants_are_accepted(changes):
  d = {**_published("meta-llama--Llama-3.2-1B.json"), **changes}
  cfg = hf.config_from_hf(d)
  assert cfg.num_layers == 16
