"""Decoder-only transformer of the Llama / Qwen2 family, cache-aware.

One forward serves training, prefill and decode:

  logits_BxTxV, cache = model.apply({"params": p}, tokens_BxT, positions_BxT,
                                    segment_ids_BxT, cache)

(with a cache this is `forward_cached`, a pure function that samplers call
directly with `decode_params`).

* `segment_ids` (int32, 0 = padding): a token attends to earlier tokens of the
  same non-zero segment only. Packed documents get ids 1, 2, ...; a padded
  batch is `segment_ids = attention_mask`.
* `cache` (optional) is an explicit pytree from `init_cache`: per layer keys
  and values `[B, K, S, H]` (separate arrays, so a decode loop updates each
  in place), the segment id of every slot `[B, S]` and the next free slot
  `index` (scalar). The T new tokens are written at slots
  `index .. index + T - 1`; causality is by slot order, so prompts of
  different lengths are left-padded and decode writes every row at the same
  slot. Positions are explicit, so RoPE never sees the padding.
Logits are float32 whatever the compute dtype.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r1jax.models import layers
from r1jax.models.attention import IMPLS as ATTENTION_IMPLS
from r1jax.models.attention import Mask
from r1jax import sharding
from r1jax.sharding import constrain

REMAT_POLICIES = ("none", "full", "save_dots")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
  """Shape and numerics of a Llama/Qwen2 model (letters as in layers.py)."""
  vocab_size: int
  num_layers: int
  embed_dim: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  rope_theta: float = 10_000.0
  # llama3 RoPE scaling: (factor, low_freq_factor, high_freq_factor,
  # original_max_position_embeddings), or None.
  rope_scaling: tuple[float, float, float, int] | None = None
  norm_eps: float = 1e-6
  qkv_bias: bool = False
  tie_embeddings: bool = False
  max_seq_len: int = 32_768
  param_dtype: Any = jnp.float32
  dtype: Any = jnp.float32  # compute dtype (bfloat16 on accelerators)
  remat: str = "none"  # none | full | save_dots
  family: str = "llama"  # llama | qwen2 (used for HF export)
  # Attention for T > 1 queries (training, prefill); see models/attention.py.
  # "auto": dot_product on GPU, splash on TPU, xla on CPU.
  attention: str = "auto"
  attention_chunk: int = 512  # query/key block size of "chunked"
  # Positions (of every row) per chunk of the learner's log-prob/entropy/NLL
  # over the vocab (losses/chunked.py); 0 = all at once ([B, M, V] logits).
  logits_chunk: int = 0

  def __post_init__(self):
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"num_heads={self.num_heads} must be a multiple of "
                       f"num_kv_heads={self.num_kv_heads}")
    if self.head_dim % 2:
      raise ValueError(f"head_dim={self.head_dim} must be even for RoPE")
    if self.remat not in REMAT_POLICIES:
      raise ValueError(f"remat={self.remat!r}; allowed: {REMAT_POLICIES}")
    if self.attention not in ATTENTION_IMPLS:
      raise ValueError(f"config.model.attention={self.attention!r}; "
                       f"allowed: {ATTENTION_IMPLS}")
    if self.attention_chunk < 1:
      raise ValueError("config.model.attention_chunk="
                       f"{self.attention_chunk} must be >= 1")
    if self.logits_chunk < 0:
      raise ValueError(f"config.model.logits_chunk={self.logits_chunk} "
                       "must be >= 0 (0 = no chunking)")

  def replace(self, **kw) -> "ModelConfig":
    return dataclasses.replace(self, **kw)

  def num_params(self) -> int:
    d, f, v = self.embed_dim, self.mlp_dim, self.vocab_size
    attn = d * self.head_dim * (2 * self.num_heads + 2 * self.num_kv_heads)
    if self.qkv_bias:
      attn += self.head_dim * (self.num_heads + 2 * self.num_kv_heads)
    per_layer = attn + 3 * d * f + 2 * d
    head = 0 if self.tie_embeddings else d * v
    return self.num_layers * per_layer + v * d + head + d


def init_cache(cfg: ModelConfig, batch: int, max_len: int,
               dtype: Any = None) -> dict[str, Any]:
  """An empty KV cache for `batch` rows and `max_len` slots."""
  shape = (batch, cfg.num_kv_heads, max_len, cfg.head_dim)
  dtype = dtype or cfg.dtype
  return {"layers": tuple({"k": jnp.zeros(shape, dtype),
                           "v": jnp.zeros(shape, dtype)}
                          for _ in range(cfg.num_layers)),
          "segment_ids": jnp.zeros((batch, max_len), jnp.int32),
          "index": jnp.zeros((), jnp.int32)}


def cache_logical_axes(cfg: ModelConfig) -> dict[str, Any]:
  """Logical axis names of the cache pytree (for shardings_for)."""
  kv = ("cache_batch", "cache_heads", "cache_len", None)
  return {"layers": tuple({"k": kv, "v": kv} for _ in range(cfg.num_layers)),
          "segment_ids": ("cache_batch", "cache_len"), "index": ()}


class Block(nn.Module):
  """Pre-norm attention + SwiGLU block; scanned over layers in training."""
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BxTxD, positions_BxT, mask, kv=None,
               cache_index=None):
    """-> (x, this layer's updated cache or None); `mask`: attention.Mask."""
    c = self.cfg
    h, new_kv = layers.Attention(c, name="attn")(
        layers.RMSNorm(c, name="input_norm")(x_BxTxD), positions_BxT,
        mask, kv, cache_index)
    x = x_BxTxD + h
    x = x + layers.Mlp(c, name="mlp")(layers.RMSNorm(c, name="post_norm")(x))
    x = constrain(x, ("act_batch", "act_len", "act_embed"))
    return x, new_kv


def _block_stack(cfg: ModelConfig):
  block = Block
  if cfg.remat != "none":
    policy = (jax.checkpoint_policies.dots_with_no_batch_dims_saveable
              if cfg.remat == "save_dots" else None)
    block = nn.remat(Block, policy=policy, prevent_cse=False,
                     static_argnums=())
  return nn.scan(
      block, variable_axes={"params": 0}, split_rngs={"params": True},
      in_axes=(nn.broadcast, nn.broadcast),
      length=cfg.num_layers, metadata_params={nn.PARTITION_NAME: "layers"})


def _embed(embedding_VxD, tokens_BxT, cfg: ModelConfig):
  x = jnp.take(embedding_VxD, tokens_BxT, axis=0).astype(cfg.dtype)
  return constrain(x, ("act_batch", "act_len", "act_embed"))


def _logits(x_BxTxD, head, spec: str, cfg: ModelConfig):
  """float32 logits; spec "VD" (tied embedding) or "DV" (lm_head)."""
  logits = jnp.einsum(f"BTD,{spec}->BTV", x_BxTxD, head.astype(cfg.dtype),
                      preferred_element_type=jnp.float32)
  return constrain(logits, ("act_batch", "act_len", "act_vocab"))


class Transformer(nn.Module):
  """Llama / Qwen2 decoder. See the module docstring for the call contract."""
  cfg: ModelConfig

  @nn.compact
  def __call__(self, tokens_BxT, positions_BxT=None, segment_ids_BxT=None,
               cache=None, num_logits: int = 0, return_hidden: bool = False):
    """`num_logits` > 0: logits of the last `num_logits` positions only
    (training on completions skips the prompt's [B, T, V] logits).
    `return_hidden`: (final-normed hidden states [B, T, D], None) instead of
    logits; the lm head is neither created nor applied (reward models)."""
    c = self.cfg
    b, t = tokens_BxT.shape
    if segment_ids_BxT is None:
      segment_ids_BxT = jnp.ones((b, t), jnp.int32)
    if positions_BxT is None:  # count of earlier real tokens in the row
      positions_BxT = jnp.maximum(
          jnp.cumsum(segment_ids_BxT != 0, axis=-1) - 1, 0)
    if cache is not None:  # never during init: params exist
      if return_hidden:
        raise ValueError("return_hidden is not supported with a cache")
      return forward_cached(self.variables["params"], c, tokens_BxT,
                            positions_BxT, segment_ids_BxT, cache, num_logits)
    slot_T = jnp.arange(t, dtype=jnp.int32)
    # Factors, not the [B, T, T] mask: see attention.py.
    mask = Mask(segment_ids_BxT, segment_ids_BxT, slot_T, slot_T)
    embedding = layers.param(self, "embedding", (c.vocab_size, c.embed_dim),
                             ("vocab", "embed"))
    x, _ = _block_stack(c)(c, name="layers")(
        _embed(embedding, tokens_BxT, c), positions_BxT, mask)
    x = layers.RMSNorm(c, name="final_norm")(x)
    if num_logits:
      x = x[:, -num_logits:]
    if return_hidden:
      return x, None
    if c.tie_embeddings:
      return _logits(x, embedding, "VD", c), None
    head = layers.param(self, "lm_head", (c.embed_dim, c.vocab_size),
                        ("embed", "vocab"))
    return _logits(x, head, "DV", c), None


def decode_params(params, cfg: ModelConfig):
  """`params` laid out for `forward_cached` loops: a tuple of per-layer
  trees instead of [L, ...] stacks, and the output head as [D, V].

  Call it once before a decode loop (the sampler does): it copies the layer
  weights (one extra copy of the weights in memory while sampling) so each
  step reads them in place; slicing layer l of the stack inside the loop
  made XLA copy it every step.

  With a mesh and logical-axis rules active while tracing (as for
  `constrain`), the weights are first resharded to the decode layout
  (`decode_rules`: no `data`/`fsdp` axis, tensor sharding kept): one
  all-gather of FSDP shards here instead of per token inside the loop.

  When weights are gathered, they are cast to the compute dtype first:
  every layer casts its weights to `cfg.dtype` where it uses them (the same
  values), so the gather and the gathered copy hold `cfg.dtype` bytes (half
  of float32 params for a bfloat16 model).
  """
  params = _decode_layout(nn.meta.unbox(params), cfg)
  out = dict(params)
  out["layers"] = _layers(params, cfg)
  out["head_DxV"] = (params["embedding"].T if cfg.tie_embeddings
                     else params["lm_head"])
  return out


# Mesh axes the decode layout drops from weights: every device then holds
# whole weights (per tensor shard) for its own rows, so decode steps need no
# collective over these axes.
DECODE_GATHERED_AXES = ("data", "fsdp")


def decode_rules(rules, param_names) -> tuple:
  """`rules` with the DECODE_GATHERED_AXES removed from the logical names in
  `param_names` (weights); activation and cache rules unchanged."""
  out = []
  for name, axes in rules:
    if name in param_names and axes is not None:
      axes = (axes,) if isinstance(axes, str) else tuple(axes)
      axes = tuple(a for a in axes if a not in DECODE_GATHERED_AXES) or None
    out.append((name, axes))
  return tuple(out)


def _compute_dtype(x, cfg: ModelConfig):
  return x.astype(cfg.dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x


def _decode_layout(params, cfg: ModelConfig):
  """The layer stacks split into per-layer trees. With a mesh whose
  DECODE_GATHERED_AXES hold more than one device (and rules), every weight
  is cast to the compute dtype and constrained to the decode layout: each
  layer sliced, cast where it lies, then gathered (no whole-stack copy in
  either dtype)."""
  if isinstance(params.get("layers"), tuple):  # already from decode_params
    return params
  rules = nn.get_logical_axis_rules()
  mesh = jax.sharding.get_abstract_mesh()
  if not rules or mesh.empty or all(
      mesh.shape.get(a, 1) == 1 for a in DECODE_GATHERED_AXES):
    # Nothing to gather: the weights stay as they are (a cast copy here
    # measured 0.87 GiB more for Qwen2.5-1.5B on one device).
    return dict(params, layers=_layers(params, cfg))
  _, axes = sharding.abstract_params(lambda r: init_params(cfg, r),
                                     jax.random.key(0))
  if jax.tree.structure(axes, is_leaf=lambda x: isinstance(x, tuple)) != (
      jax.tree.structure(params)):
    raise ValueError("decode_params: params do not match "
                     "init_params(cfg)'s tree for this ModelConfig")
  names = {n for x in jax.tree.leaves(axes, is_leaf=lambda x: isinstance(
      x, tuple)) for n in x if n is not None}
  gathered = decode_rules(rules, names)

  def place(x, n):
    # Cast where the weight lies (pinned to its training layout: left
    # free, XLA moves the cast after the gather), then gather.
    x = jax.lax.with_sharding_constraint(
        _compute_dtype(x, cfg), sharding.spec_for(x.shape, n, rules, mesh))
    return jax.lax.with_sharding_constraint(
        x, sharding.spec_for(x.shape, n, gathered, mesh))

  is_axes = lambda x: isinstance(x, tuple)
  out = {k: jax.tree.map(place, v, axes[k], is_leaf=is_axes)
         for k, v in params.items() if k != "layers"}
  out["layers"] = tuple(
      jax.tree.map(lambda w, n, i=i: place(w[i], n[1:]), params["layers"],
                   axes["layers"], is_leaf=is_axes)
      for i in range(cfg.num_layers))
  return out


def _layers(params, cfg: ModelConfig) -> tuple:
  stacked = params["layers"]
  if isinstance(stacked, tuple):  # already from decode_params
    return stacked
  return tuple(jax.tree.map(lambda w, i=i: w[i], stacked)
               for i in range(cfg.num_layers))


def forward_cached(params, cfg: ModelConfig, tokens_BxT, positions_BxT,
                   segment_ids_BxT, cache, num_logits: int = 0):
  """The forward with a KV cache (prefill and decode): the same math as
  `Transformer`, the layers unrolled over the per-layer cache buffers.

  `params`: from `decode_params` (decode loops), or as trained (stacked
  layers; each call then slices them). Returns (float32 logits, the cache
  with the T new tokens written at `cache["index"]`). Attention reads every
  slot of the cache: a caller that wants a step's cost to follow the filled
  length passes a shorter cache and grows it (sampler.py's phases).
  """
  params = nn.meta.unbox(params)
  t = tokens_BxT.shape[1]
  index = cache["index"]
  k_seg = jax.lax.dynamic_update_slice(
      cache["segment_ids"], segment_ids_BxT.astype(jnp.int32), (0, index))
  mask = Mask(segment_ids_BxT.astype(jnp.int32), k_seg,
              index + jnp.arange(t, dtype=jnp.int32),
              jnp.arange(k_seg.shape[1], dtype=jnp.int32))
  x, new_layers = cached_layers(params, cfg, tokens_BxT, positions_BxT,
                                mask, cache["layers"], index)
  if num_logits:
    x = x[:, -num_logits:]
  return output_logits(params, cfg, x), {
      "layers": new_layers, "segment_ids": k_seg, "index": index + t}


def cached_layers(params, cfg: ModelConfig, tokens_BxT, positions_BxT,
                  mask, kv_layers, index):
  """Embedding, the layers over their caches (new tokens written at slot
  `index`) and the final norm -> (x_BxTxD, updated per-layer caches)."""
  x = _embed(params["embedding"], tokens_BxT, cfg)
  new_layers = []
  for layer_params, kv in zip(_layers(params, cfg), kv_layers):
    x, kv = Block(cfg).apply({"params": layer_params}, x, positions_BxT,
                             mask, kv, index)
    new_layers.append(kv)
  x = layers.RMSNorm(cfg).apply({"params": params["final_norm"]}, x)
  return x, tuple(new_layers)


def output_head(params, cfg: ModelConfig):
  """(head weights, einsum spec): decode_params' head_DxV ("DV"), the tied
  embedding ([V, D], "VD") or lm_head ([D, V], "DV")."""
  params = nn.meta.unbox(params)
  if "head_DxV" in params:
    return params["head_DxV"], "DV"
  if cfg.tie_embeddings:
    return params["embedding"], "VD"
  return params["lm_head"], "DV"


def output_logits(params, cfg: ModelConfig, x_BxTxD):
  """float32 logits through the output head (`output_head`)."""
  head, spec = output_head(params, cfg)
  return _logits(x_BxTxD, head, spec, cfg)


def init_params(cfg: ModelConfig, rng: jax.Array):
  """Boxed (logically partitioned) params; see sharding.init_sharded."""
  tokens = jnp.zeros((1, 1), jnp.int32)
  return Transformer(cfg).init(rng, tokens)["params"]
