"""Shared config helpers: `parse_arg` variants and common blocks."""

from __future__ import annotations

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """`"a,b=2"` -> {a: True, b: 2} over `defaults` (big_vision style)."""
  out = ml_collections.ConfigDict(defaults)
  for item in (arg or "").split(","):
    if not item:
      continue
    key, _, value = item.partition("=")
    if key not in defaults and not value:
      # A bare word selects the first string default ("variant").
      str_keys = [k for k, v in defaults.items() if isinstance(v, str)]
      if not str_keys:
        raise ValueError(f"config arg {item!r}: no variant field to set")
      out[str_keys[0]] = key
      continue
    if key not in defaults:
      raise ValueError(f"config arg {key!r} is unknown; known: "
                       f"{sorted(defaults)}")
    kind = type(defaults[key])
    out[key] = (value.lower() in ("1", "true", "yes", "")
                if kind is bool else kind(value))
  return out


def model_block(preset: str = "tiny", hf_dir: str = "") -> ml_collections.ConfigDict:
  """Which model to build or load."""
  c = ml_collections.ConfigDict()
  # Hugging Face model directory (config.json + safetensors). Empty: a
  # randomly initialised `preset` (r1jax.models.presets).
  c.hf_dir = hf_dir
  c.preset = preset
  # Parameter storage and compute dtypes (bfloat16 compute on accelerators).
  c.param_dtype = "float32"
  c.dtype = "float32"
  return c


def mesh_block() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Sizes of the ('data', 'fsdp', 'tensor') mesh axes; -1 = the rest.
  c.shape = (1, -1, 1)
  return c
