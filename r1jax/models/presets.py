"""Named model shapes. Weights for the real ones come from HF files (hf.py).

Values are those of the published config.json files of each checkpoint.
"""

from __future__ import annotations

from r1jax.models.transformer import ModelConfig

_QWEN = dict(family="qwen2", qkv_bias=True, rope_theta=1_000_000.0,
             norm_eps=1e-6, vocab_size=151_936, max_seq_len=32_768)
_LLAMA3 = dict(family="llama", rope_theta=500_000.0, norm_eps=1e-5,
               vocab_size=128_256, max_seq_len=131_072)

PRESETS: dict[str, ModelConfig] = {
    # Tests: a few thousand parameters, GQA 2:1, compiles in seconds.
    "tiny": ModelConfig(vocab_size=256, num_layers=2, embed_dim=32,
                        num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=64,
                        qkv_bias=True, tie_embeddings=True, family="qwen2",
                        max_seq_len=512),
    # CPU demo: ~4M parameters, Qwen2-shaped.
    "small": ModelConfig(vocab_size=1024, num_layers=4, embed_dim=256,
                         num_heads=8, num_kv_heads=2, head_dim=32,
                         mlp_dim=704, qkv_bias=True, tie_embeddings=True,
                         family="qwen2", max_seq_len=1024),
    "qwen2.5-0.5b": ModelConfig(num_layers=24, embed_dim=896, num_heads=14,
                                num_kv_heads=2, head_dim=64, mlp_dim=4864,
                                tie_embeddings=True, **_QWEN),
    "qwen2.5-1.5b": ModelConfig(num_layers=28, embed_dim=1536, num_heads=12,
                                num_kv_heads=2, head_dim=128, mlp_dim=8960,
                                tie_embeddings=True, **_QWEN),
    "qwen2.5-3b": ModelConfig(num_layers=36, embed_dim=2048, num_heads=16,
                              num_kv_heads=2, head_dim=128, mlp_dim=11008,
                              tie_embeddings=True, **_QWEN),
    # The base 7B file says 131072 positions (the 0.5B/3B ones say 32768).
    "qwen2.5-7b": ModelConfig(**{**_QWEN, "vocab_size": 152_064,
                                 "max_seq_len": 131_072},
                              num_layers=28, embed_dim=3584, num_heads=28,
                              num_kv_heads=4, head_dim=128, mlp_dim=18944,
                              tie_embeddings=False),
    "llama-3.2-1b": ModelConfig(num_layers=16, embed_dim=2048, num_heads=32,
                                num_kv_heads=8, head_dim=64, mlp_dim=8192,
                                tie_embeddings=True,
                                rope_scaling=(32.0, 1.0, 4.0, 8192),
                                **_LLAMA3),
    "llama-3.2-3b": ModelConfig(num_layers=28, embed_dim=3072, num_heads=24,
                                num_kv_heads=8, head_dim=128, mlp_dim=8192,
                                tie_embeddings=True,
                                rope_scaling=(32.0, 1.0, 4.0, 8192),
                                **_LLAMA3),
    "llama-3.1-8b": ModelConfig(num_layers=32, embed_dim=4096, num_heads=32,
                                num_kv_heads=8, head_dim=128, mlp_dim=14336,
                                tie_embeddings=False,
                                rope_scaling=(8.0, 1.0, 4.0, 8192),
                                **_LLAMA3),
}


def get(name: str, **overrides) -> ModelConfig:
  """A preset by name, with optional field overrides (e.g. dtype, remat)."""
  if name not in PRESETS:
    raise ValueError(f"unknown model preset {name!r}; known: "
                     f"{sorted(PRESETS)}")
  return PRESETS[name].replace(**overrides)
