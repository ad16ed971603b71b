"""Llama / Qwen2 transformer, presets and Hugging Face interop."""
from r1jax.models.presets import PRESETS, get as get_preset
from r1jax.models.transformer import (ModelConfig, Transformer, init_cache,
                                      cache_logical_axes, decode_params,
                                      forward_cached, init_params)
