"""Completion token ids -> the text rewards score, on host and device alike.

The sampler's completion ends with its stop token (EOS, `<|im_end|>`,
`</answer>`) and is padded after it. Rewards score the text without the
tokenizer's EOS, padding and special-flagged tokens, but never without the
R1 tags (some tokenizers flag `<think>` special). The device rewards read
the same text: `token_classes` classes every stripped id as whitespace.
"""
from __future__ import annotations

import functools

import numpy as np

from r1jax import tokenizers as tok_lib
from r1jax.rewards.device import vocab


@functools.lru_cache(maxsize=8)
def stripped_ids(tok: tok_lib.Tokenizer) -> frozenset[int]:
  """Ids removed before scoring: EOS, padding and special tokens that
  `decode(skip_special=True)` drops, except the R1 tags (computed once per
  tokenizer object: every step decodes with it)."""
  out = {i for i in (tok.eos_id, tok.pad_id) if i is not None}
  out |= {i for i in tok.special_tokens.values()
          if i < tok.vocab_size and tok.decode([i])
          and not tok.decode([i], skip_special=True)}
  return frozenset(out - {tok.token_to_id(t)
                          for t in tok_lib.R1_SPECIAL_TOKENS})


def decode(tok: tok_lib.Tokenizer, tokens_BxM, length_B,
           strip: frozenset[int] | None = None) -> list[str]:
  """The text of each row's first length_B[i] tokens, stripped ids left
  out."""
  strip = stripped_ids(tok) if strip is None else strip
  return [tok.decode([int(t) for t in tokens_BxM[i, :int(length_B[i])]
                      if int(t) not in strip])
          for i in range(len(length_B))]


def token_classes(tok: tok_lib.Tokenizer,
                  strip: frozenset[int] | None = None) -> np.ndarray:
  """The device rewards' class_V: stripped ids are whitespace."""
  strip = stripped_ids(tok) if strip is None else strip
  return vocab.token_classes(tok.token_texts(), ignore_ids=sorted(strip))

