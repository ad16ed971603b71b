"""What r1jax does with each field of a Hugging Face config.json, and which
safetensors tensor holds each of our params (TENSORS).

Every field that the published Llama 3.x, Qwen2, Qwen2.5 and DeepSeek-R1
distill config.json files carry (see tests/models/hub_configs) is in exactly
one class:

* MAPPED: read into ModelConfig by `hf.config_from_hf`.
* IGNORED: never changes the forward (metadata, generation or runtime
  defaults, token ids, fields only read by code paths that a constrained
  field switches off).
* CONSTRAINED: accepted only with a value our forward implements.

Anything else is unknown and rejected, so a field nobody has looked at never
silently changes what a checkpoint computes.
"""

from __future__ import annotations

from typing import Any, Callable

MAPPED = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
    "tie_word_embeddings",
    # -> max_seq_len (no position table: RoPE only; used to bound lengths).
    "max_position_embeddings",
    # Classic (<= 4.x) and transformers 5 RoPE fields; `null` means default.
    # hf._rope accepts the default and llama3 types and rejects the others.
    "rope_theta", "rope_scaling", "rope_parameters",
})

IGNORED = frozenset({
    # Metadata and class selection (architectures/model_type: hf checks).
    "_name_or_path", "_commit_hash", "_attn_implementation_autoset",
    "architectures", "model_type", "transformers_version", "torch_dtype",
    "dtype", "use_bfloat16", "model_name", "tokenizer_class", "torchscript",
    "id2label", "label2id", "problem_type", "finetuning_task", "prefix",
    # Label count of *ForSequenceClassification: hf checks it is 1.
    "num_labels", "_num_labels",
    "task_specific_params", "tf_legacy_loss", "pruned_heads",
    "initializer_range",
    # Token ids and generation or runtime defaults.
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
    "decoder_start_token_id", "use_cache", "output_attentions",
    "output_hidden_states", "output_scores", "return_dict",
    "return_dict_in_generate", "chunk_size_feed_forward",
    # Encoder-decoder switches that a decoder-only LM never reads.
    "is_encoder_decoder", "is_decoder", "add_cross_attention",
    "cross_attention_hidden_size", "tie_encoder_decoder",
    # Qwen2 sliding window: only read when use_sliding_window is true, which
    # CONSTRAINED rejects (transformers 5 then sets every layer to full
    # attention). Published files carry sliding_window 4096..131072 or null.
    "sliding_window", "max_window_layers",
})


def _exactly(*allowed) -> Callable[[Any], bool]:
  """Value equals one of `allowed`; bools only match bools (0 != False)."""
  def ok(v):
    return any(v == a and isinstance(v, bool) == isinstance(a, bool)
               for a in allowed)
  return ok


def _zero(v) -> bool:
  return not isinstance(v, bool) and isinstance(v, (int, float)) and v == 0


def _positive_int(v) -> bool:
  return not isinstance(v, bool) and isinstance(v, int) and v >= 1


def _all_full_attention(v) -> bool:
  return isinstance(v, list) and all(t == "full_attention" for t in v)


# field -> (accepts(value), what is supported, for the error message).
CONSTRAINED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "hidden_act": (_exactly("silu"), "'silu'"),
    "attention_bias": (_exactly(False), "false (llama: no q/k/v/o bias)"),
    "mlp_bias": (_exactly(False), "false"),
    "attention_dropout": (_zero, "0"),
    "use_sliding_window": (_exactly(False), "false"),
    "layer_types": (_all_full_attention, "only 'full_attention' layers"),
    # Multimodal (3-axis) RoPE of the Qwen2-VL text towers; Qwen2.5 files say
    # false. Qwen2ForCausalLM never reads it, but true marks a checkpoint
    # trained with M-RoPE positions, which our 1-D positions do not produce.
    "use_mrope": (_exactly(False), "false"),
    # Tensor-parallel degree of Meta's pretraining. transformers <= 4.4x
    # split each projection's matmul into this many slices and summed them
    # (the same product, another summation order); transformers 5 reads it
    # nowhere. Any positive degree is therefore the same forward.
    "pretraining_tp": (_positive_int, "a positive integer"),
}


def problem(key: str, value: Any) -> str | None:
  """Why field `key` = `value` cannot be loaded, or None when it can."""
  if key in MAPPED or key in IGNORED:
    return None
  if key in CONSTRAINED:
    accepts, supported = CONSTRAINED[key]
    if accepts(value):
      return None
    return (f"field {key}={value!r} is not supported (supported: "
            f"{supported})")
  return (f"unknown config field {key!r}; r1jax does not know whether it "
          "changes the model")


# --- Tensor name / layout mapping -------------------------------------------
# Each entry: our param path -> (HF name, to_ours(w, cfg), to_hf(p, cfg)).
# "{i}" marks a per-layer tensor, stacked along our leading `layers` axis.
def _proj_in(heads):
  def to_ours(w, c):  # [heads*H, D] -> [D, heads, H]
    return w.T.reshape(c.embed_dim, heads(c), c.head_dim)
  def to_hf(p, c):
    return p.reshape(c.embed_dim, -1).T
  return to_ours, to_hf


def _bias(heads):
  return (lambda w, c: w.reshape(heads(c), c.head_dim),
          lambda p, c: p.reshape(-1))


_N = lambda c: c.num_heads  # pylint: disable=unnecessary-lambda-assignment
_K = lambda c: c.num_kv_heads  # pylint: disable=unnecessary-lambda-assignment
_T = (lambda w, c: w.T, lambda p, c: p.T)
_ID = (lambda w, c: w, lambda p, c: p)
LAYER = "model.layers.{i}."
_L = LAYER
TENSORS: dict[tuple[str, ...], tuple[str, Callable, Callable]] = {
    ("embedding",): ("model.embed_tokens.weight", *_ID),
    ("lm_head",): ("lm_head.weight", *_T),
    # *ForSequenceClassification with num_labels=1: nn.Linear(D, 1), no bias.
    ("score",): ("score.weight", lambda w, c: w.reshape(-1),
                 lambda p, c: p.reshape(1, -1)),
    ("final_norm", "scale"): ("model.norm.weight", *_ID),
    ("layers", "input_norm", "scale"): (_L + "input_layernorm.weight", *_ID),
    ("layers", "post_norm", "scale"): (
        _L + "post_attention_layernorm.weight", *_ID),
    ("layers", "attn", "q_proj"): (_L + "self_attn.q_proj.weight",
                                   *_proj_in(_N)),
    ("layers", "attn", "k_proj"): (_L + "self_attn.k_proj.weight",
                                   *_proj_in(_K)),
    ("layers", "attn", "v_proj"): (_L + "self_attn.v_proj.weight",
                                   *_proj_in(_K)),
    ("layers", "attn", "o_proj"): (
        _L + "self_attn.o_proj.weight",
        lambda w, c: w.T.reshape(c.num_heads, c.head_dim, c.embed_dim),
        lambda p, c: p.reshape(-1, c.embed_dim).T),
    ("layers", "attn", "q_bias"): (_L + "self_attn.q_proj.bias", *_bias(_N)),
    ("layers", "attn", "k_bias"): (_L + "self_attn.k_proj.bias", *_bias(_K)),
    ("layers", "attn", "v_bias"): (_L + "self_attn.v_proj.bias", *_bias(_K)),
    ("layers", "mlp", "gate_proj"): (_L + "mlp.gate_proj.weight", *_T),
    ("layers", "mlp", "up_proj"): (_L + "mlp.up_proj.weight", *_T),
    ("layers", "mlp", "down_proj"): (_L + "mlp.down_proj.weight", *_T),
}
