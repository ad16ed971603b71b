"""Tiny random-weight Hugging Face models used as references in tests."""
import numpy as np
import torch
import transformers

# name -> (config class, kwargs). Together they cover GQA 7:1 (as
# Qwen2.5-0.5B), QKV bias, llama3 RoPE scaling, tied and untied embeddings.
CASES = {
    "qwen2_gqa7_tied": (transformers.Qwen2Config, dict(
        vocab_size=96, hidden_size=56, intermediate_size=112,
        num_hidden_layers=2, num_attention_heads=7, num_key_value_heads=1,
        tie_word_embeddings=True, rope_theta=1e6, rms_norm_eps=1e-6)),
    "qwen2_untied": (transformers.Qwen2Config, dict(
        vocab_size=96, hidden_size=32, intermediate_size=64,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
        tie_word_embeddings=False, rope_theta=1e6, rms_norm_eps=1e-6)),
    "llama3_scaled_untied": (transformers.LlamaConfig, dict(
        vocab_size=96, hidden_size=32, intermediate_size=80,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, tie_word_embeddings=False, rope_theta=500000.0,
        rms_norm_eps=1e-5, rope_scaling=dict(
            rope_type="llama3", factor=8.0, low_freq_factor=1.0,
            high_freq_factor=4.0, original_max_position_embeddings=64))),
    "llama_tied": (transformers.LlamaConfig, dict(
        vocab_size=96, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        tie_word_embeddings=True, rope_theta=10000.0, rms_norm_eps=1e-5)),
}


def make_hf_model(name: str, seed: int = 0, **overrides):
  """A float32 HF causal LM with every weight (biases, norms) randomised."""
  cls, kw = CASES[name]
  kw = {**kw, **overrides}
  torch.manual_seed(seed)
  cfg = cls(**kw, attn_implementation="eager")
  model = transformers.AutoModelForCausalLM.from_config(cfg).float().eval()
  randomise(model, seed)
  return model


def randomise(model, seed: int) -> None:
  """Every weight random: norms near 1, the rest N(0, 0.2^2)."""
  torch.manual_seed(seed)
  with torch.no_grad():
    for pname, p in model.named_parameters():
      if "norm" in pname:
        p.copy_(1.0 + 0.1 * torch.randn_like(p))
      else:
        p.copy_(0.2 * torch.randn_like(p))


def left_padded_batch(lengths, vocab, seed=0):
  """(tokens, mask, positions) numpy int32, rows left-padded to max length."""
  rng = np.random.default_rng(seed)
  t = max(lengths)
  tokens = np.zeros((len(lengths), t), np.int32)
  mask = np.zeros((len(lengths), t), np.int32)
  for i, n in enumerate(lengths):
    tokens[i, t - n:] = rng.integers(1, vocab, n)
    mask[i, t - n:] = 1
  positions = np.maximum(np.cumsum(mask, -1) - 1, 0).astype(np.int32)
  return tokens, mask, positions


def hf_logits(model, tokens, mask, positions):
  with torch.no_grad():
    out = model(input_ids=torch.tensor(tokens, dtype=torch.long),
                attention_mask=torch.tensor(mask, dtype=torch.long),
                position_ids=torch.tensor(positions, dtype=torch.long))
  return out.logits.float().numpy()
