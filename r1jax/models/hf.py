"""Hugging Face checkpoints (config.json + safetensors) <-> r1jax params.

`load` reads a model directory tensor by tensor straight into the requested
shardings: every host reads the files itself and places only the shards its
own devices hold, so no device ever holds a full copy of the model and host
memory peaks at one (layer-stacked) parameter. `save` writes a directory that
`transformers.AutoModelForCausalLM.from_pretrained` loads.

Scalar reward models (`Qwen2ForSequenceClassification` /
`LlamaForSequenceClassification`, num_labels 1) load as reward.py params
(`score.weight` [1, D] -> "score" [D], no lm_head); `save` of such params
writes a directory that `AutoModelForSequenceClassification` loads.
"""

from __future__ import annotations

import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

from r1jax import sharding as shd
from r1jax.models import hf_fields
from r1jax.models import reward
from r1jax.models.transformer import ModelConfig, init_params

ARCHITECTURES = {"Qwen2ForCausalLM": "qwen2", "LlamaForCausalLM": "llama"}
# Scalar reward models: the same decoder, `score.weight` instead of lm_head.
RM_ARCHITECTURES = {"Qwen2ForSequenceClassification": "qwen2",
                    "LlamaForSequenceClassification": "llama"}
_ALL_ARCHITECTURES = {**ARCHITECTURES, **RM_ARCHITECTURES}
_MAP = hf_fields.TENSORS
_L = hf_fields.LAYER


class HFFormatError(ValueError):
  """A Hugging Face file that r1jax cannot read, naming file and field."""


def _rope(hf: dict, path: str) -> tuple[float, Any]:
  """(theta, llama3 scaling tuple or None) from old or new style fields."""
  params = dict(hf.get("rope_parameters") or {})
  scaling = hf.get("rope_scaling") or params
  if not isinstance(scaling, dict):
    raise HFFormatError(f"{path}: rope_scaling={scaling!r} is not an object")
  theta = float(params.get("rope_theta", hf.get("rope_theta", 10_000.0)))
  kind = scaling.get("rope_type", scaling.get("type", "default"))
  if kind == "default":
    return theta, None
  if kind != "llama3":
    raise HFFormatError(f"{path}: rope_scaling type {kind!r} is not "
                        "supported (supported: default, llama3)")
  try:
    return theta, (float(scaling["factor"]), float(scaling["low_freq_factor"]),
                   float(scaling["high_freq_factor"]),
                   int(scaling["original_max_position_embeddings"]))
  except KeyError as e:
    raise HFFormatError(f"{path}: rope_scaling is missing field {e}") from e


def config_from_hf(hf: dict, path: str = "config.json",
                   **overrides) -> ModelConfig:
  """Our ModelConfig from a parsed config.json; strict about the unknown."""
  archs = hf.get("architectures") or []
  family = {"qwen2": "qwen2", "llama": "llama"}.get(hf.get("model_type"))
  for a in archs:
    if a not in _ALL_ARCHITECTURES:
      raise HFFormatError(f"{path}: architecture {a!r} is not supported "
                          f"(supported: {sorted(_ALL_ARCHITECTURES)})")
    family = _ALL_ARCHITECTURES[a]
  if is_reward_config(hf) and _num_labels(hf) != 1:
    raise HFFormatError(
        f"{path}: {archs[0]} with num_labels={_num_labels(hf)} (from "
        f"id2label={hf.get('id2label')!r}, num_labels="
        f"{hf.get('num_labels')!r}); r1jax reads scalar reward models only, "
        "num_labels must be 1")
  if family is None:
    raise HFFormatError(f"{path}: model_type {hf.get('model_type')!r} is not "
                        "supported (supported: qwen2, llama)")
  for key, value in hf.items():
    why = hf_fields.problem(key, value)
    if why:
      raise HFFormatError(f"{path}: {why}")
  try:
    n = hf["num_attention_heads"]
    theta, scaling = _rope(hf, path)
    kw = dict(
        vocab_size=hf["vocab_size"], num_layers=hf["num_hidden_layers"],
        embed_dim=hf["hidden_size"], num_heads=n,
        num_kv_heads=hf.get("num_key_value_heads") or n,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // n,
        mlp_dim=hf["intermediate_size"], rope_theta=theta,
        rope_scaling=scaling, norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        qkv_bias=family == "qwen2",
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        max_seq_len=int(hf.get("max_position_embeddings", 32_768)),
        family=family)
  except KeyError as e:
    raise HFFormatError(f"{path}: required field {e} is missing") from e
  return ModelConfig(**{**kw, **overrides})


def _num_labels(hf: dict) -> int:
  """As transformers counts them: id2label wins; 2 when nothing is said."""
  if hf.get("id2label"):
    return len(hf["id2label"])
  return int(hf.get("num_labels", hf.get("_num_labels", 2)))


def is_reward_config(hf: dict) -> bool:
  """Whether a parsed config.json names a *ForSequenceClassification."""
  return any(a in RM_ARCHITECTURES for a in hf.get("architectures") or [])


def _read_config(model_dir: str) -> tuple[dict, str]:
  cfg_path = os.path.join(model_dir, "config.json")
  try:
    with open(cfg_path) as f:
      return json.load(f), cfg_path
  except FileNotFoundError as e:
    raise HFFormatError(f"{cfg_path}: file not found") from e
  except json.JSONDecodeError as e:
    raise HFFormatError(f"{cfg_path}: not valid JSON ({e})") from e


def is_reward_model(model_dir: str) -> bool:
  """Whether `model_dir` holds a scalar reward model (vs a causal LM)."""
  return is_reward_config(_read_config(model_dir)[0])


def config_to_hf(cfg: ModelConfig, dtype: str = "float32", *,
                 reward_model: bool = False,
                 pad_token_id: int | None = None) -> dict:
  """config.json contents (classic rope_theta/rope_scaling fields).

  `reward_model`: a `<Family>ForSequenceClassification` with one label.
  `pad_token_id` (written when given): transformers' sequence classifiers
  read the score at the last token that is not this id."""
  archs = RM_ARCHITECTURES if reward_model else ARCHITECTURES
  arch = {v: k for k, v in archs.items()}[cfg.family]
  hf = {
      "architectures": [arch], "model_type": cfg.family,
      "vocab_size": cfg.vocab_size, "hidden_size": cfg.embed_dim,
      "intermediate_size": cfg.mlp_dim, "num_hidden_layers": cfg.num_layers,
      "num_attention_heads": cfg.num_heads,
      "num_key_value_heads": cfg.num_kv_heads, "head_dim": cfg.head_dim,
      "hidden_act": "silu", "rms_norm_eps": cfg.norm_eps,
      "rope_theta": cfg.rope_theta,
      "tie_word_embeddings": cfg.tie_embeddings,
      "max_position_embeddings": cfg.max_seq_len, "torch_dtype": dtype,
      "rope_scaling": None,
  }
  if cfg.rope_scaling is not None:
    f, lo, hi, orig = cfg.rope_scaling
    hf["rope_scaling"] = {"rope_type": "llama3", "factor": f,
                          "low_freq_factor": lo, "high_freq_factor": hi,
                          "original_max_position_embeddings": orig}
  if reward_model:
    hf.update(id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0})
  if pad_token_id is not None:
    hf["pad_token_id"] = int(pad_token_id)
  if cfg.family == "llama":
    hf.update(attention_bias=False, mlp_bias=False)
  elif not cfg.qkv_bias:
    raise ValueError("qwen2 export needs qkv_bias=True")
  return hf


def _key_path(path) -> tuple[str, ...]:
  return tuple(getattr(k, "key", str(k)) for k in path)


# safetensors dtype -> numpy. numpy has no bfloat16, so safetensors' numpy API
# cannot read the bf16 tensors of published checkpoints: tensors are read
# from a memory map of the file instead (also one copy fewer).
_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16,
              "BF16": ml_dtypes.bfloat16}


def _st_header(path: str) -> tuple[dict, int]:
  """(name -> {dtype, shape, data_offsets}, data start) of a .safetensors."""
  try:
    with open(path, "rb") as f:
      n = int.from_bytes(f.read(8), "little")
      header = json.loads(f.read(n))
  except (OSError, ValueError) as e:
    raise HFFormatError(f"{path}: not a valid safetensors file ({e})") from e
  header.pop("__metadata__", None)
  return header, 8 + n


class _Files:
  """Lazy access to the tensors of a (possibly sharded) safetensors model."""

  def __init__(self, model_dir: str):
    self.dir = model_dir
    self._headers: dict[str, tuple[dict, int]] = {}
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
      with open(index) as f:
        try:
          self.where = json.load(f)["weight_map"]
        except (KeyError, json.JSONDecodeError) as e:
          raise HFFormatError(f"{index}: no valid 'weight_map' ({e})") from e
      for fname in sorted(set(self.where.values())):
        if not os.path.exists(os.path.join(model_dir, fname)):
          raise HFFormatError(f"{index}: shard file {fname!r} is missing "
                              f"from {model_dir}")
    elif os.path.exists(os.path.join(model_dir, "model.safetensors")):
      self.where = {k: "model.safetensors"
                    for k in self._header("model.safetensors")[0]}
    else:
      raise HFFormatError(f"{model_dir}: neither model.safetensors nor "
                          "model.safetensors.index.json found")

  def _header(self, fname: str) -> tuple[dict, int]:
    if fname not in self._headers:
      self._headers[fname] = _st_header(os.path.join(self.dir, fname))
    return self._headers[fname]

  def get(self, name: str) -> tuple[np.ndarray, str]:
    """(read-only memory-mapped tensor, file name)."""
    if name not in self.where:
      raise HFFormatError(f"{self.dir}: tensor {name!r} is missing from the "
                          "checkpoint")
    fname = self.where[name]
    path = os.path.join(self.dir, fname)
    header, start = self._header(fname)
    if name not in header:
      raise HFFormatError(f"{path}: tensor {name!r} is missing (the index "
                          "places it in this file)")
    info = header[name]
    if info.get("dtype") not in _ST_DTYPES:
      raise HFFormatError(f"{path}: tensor {name!r} has dtype "
                          f"{info.get('dtype')!r} (supported: "
                          f"{sorted(_ST_DTYPES)})")
    dtype = np.dtype(_ST_DTYPES[info["dtype"]])
    begin, end = info["data_offsets"]
    shape = tuple(info["shape"])
    if end - begin != dtype.itemsize * int(np.prod(shape)):
      raise HFFormatError(f"{path}: tensor {name!r} has {end - begin} bytes, "
                          f"not those of a {info['dtype']} {shape} tensor")
    data = np.memmap(path, np.uint8, "r", offset=start + begin,
                     shape=(end - begin,))
    return data.view(dtype).reshape(shape), fname


def _expected_hf_shape(ours_shape, to_hf, cfg):
  # A zero-stride view: the layout maps run without allocating the tensor.
  return to_hf(np.broadcast_to(np.int8(0), ours_shape), cfg).shape


def load(model_dir: str, mesh=None, rules=shd.DEFAULT_RULES,
         **overrides) -> tuple[ModelConfig, Any]:
  """(ModelConfig, params) from a HF model directory, placed on `mesh`.

  A reward model directory (`is_reward_model`) gives reward.py params.
  `overrides` replace ModelConfig fields (e.g. param_dtype, dtype, remat).
  Without a mesh, params go to a single-device (1, 1, 1) mesh.
  """
  hf, cfg_path = _read_config(model_dir)
  cfg = config_from_hf(hf, cfg_path, **overrides)
  mesh = mesh or shd.make_mesh((1, 1, 1), jax.devices()[:1])
  init = reward.init_params if is_reward_config(hf) else init_params
  shapes, axes = shd.abstract_params(lambda r: init(cfg, r),
                                     jax.random.key(0))
  shardings = shd.shardings_for(shapes, axes, mesh, rules)
  files = _Files(model_dir)
  dtype = np.dtype(jnp.dtype(cfg.param_dtype))

  def read(name, to_ours, to_hf, shape):
    w, fname = files.get(name)
    want = _expected_hf_shape(shape, to_hf, cfg)
    if tuple(w.shape) != tuple(want):
      raise HFFormatError(f"{os.path.join(model_dir, fname)}: tensor {name!r}"
                          f" has shape {tuple(w.shape)}, expected "
                          f"{tuple(want)} from config.json")
    return to_ours(w, cfg).astype(dtype)

  def one(path, spec, sharding):
    key = _key_path(path)
    if key not in _MAP:
      raise HFFormatError(f"no Hugging Face tensor maps to param {key}")
    name, to_ours, to_hf = _MAP[key]
    if key[0] == "layers":
      host = np.stack([read(name.format(i=i), to_ours, to_hf, spec.shape[1:])
                       for i in range(cfg.num_layers)])
    else:
      host = read(name, to_ours, to_hf, spec.shape)
    return jax.make_array_from_callback(spec.shape, sharding,
                                        lambda idx: host[idx])

  params = jax.tree_util.tree_map_with_path(one, shapes, shardings)
  return cfg, params


def _to_host(x) -> np.ndarray | None:
  """The whole of `x` on process 0 (None elsewhere). Multi-host, every
  process must call it: a sharded `x` is gathered with a collective."""
  if jax.process_count() > 1 and not x.is_fully_addressable:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    # Fully replicated: every process holds it all, no collective.
    x = (x.addressable_data(0) if x.is_fully_replicated
         else multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(jax.device_get(x)) if jax.process_index() == 0 else None


def save(model_dir: str, cfg: ModelConfig, params, dtype: str = "float32",
         max_shard_bytes: int = 4 << 30,
         pad_token_id: int | None = None) -> None:
  """Writes config.json and safetensors (sharded + index past the limit).

  Reward-model params (a "score" key) are written as a
  `<Family>ForSequenceClassification` with num_labels 1; they need
  `pad_token_id` (the tokenizer's), which transformers uses to find each
  row's last token. Multi-host: every process calls it and joins the
  gathers of sharded params, one tensor at a time; only process 0 keeps
  them and writes."""
  np_dtype = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16,
              "float16": np.float16}[dtype]
  params = nn.unbox(params)
  is_rm = reward.is_reward_params(params)
  if is_rm and pad_token_id is None:
    raise ValueError("hf.save: reward-model params need pad_token_id (the "
                     "tokenizer's pad id): transformers reads the score at "
                     "the last token that is not pad_token_id")
  tensors: dict[str, np.ndarray] = {}
  for path, value in jax.tree_util.tree_flatten_with_path(params)[0]:
    name, _, to_hf = _MAP[_key_path(path)]
    host = _to_host(value)
    if host is None:  # not process 0
      continue
    if name.startswith(_L):
      for i in range(cfg.num_layers):
        tensors[name.format(i=i)] = np.ascontiguousarray(
            to_hf(host[i], cfg).astype(np_dtype))
    else:
      tensors[name] = np.ascontiguousarray(to_hf(host, cfg).astype(np_dtype))
  if jax.process_index() != 0:
    return
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, "config.json"), "w") as f:
    json.dump(config_to_hf(cfg, dtype, reward_model=is_rm,
                           pad_token_id=pad_token_id), f, indent=2)
  shards, size = [{}], 0
  for name, t in tensors.items():
    if size + t.nbytes > max_shard_bytes and shards[-1]:
      shards.append({})
      size = 0
    shards[-1][name] = t
    size += t.nbytes
  if len(shards) == 1:
    save_file(shards[0], os.path.join(model_dir, "model.safetensors"),
              metadata={"format": "pt"})
    return
  weight_map = {}
  for i, shard in enumerate(shards):
    fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    save_file(shard, os.path.join(model_dir, fname), metadata={"format": "pt"})
    weight_map.update({k: fname for k in shard})
  with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": sum(t.nbytes for t in
                                              tensors.values())},
               "weight_map": weight_map}, f, indent=2)
