"""Token-level data for the jittable rewards.

Device rewards see token ids, not text. They need two things from the
tokenizer, both built once on the host:
1. `Tags`: the id sequence of each of `<think>`, `</think>`, `<answer>`,
   `</answer>` (`tokenizer.encode(tag)`); one id when the tags are special
   tokens, several with a character-level tokenizer. The tokenizer must
   encode a tag the same way wherever it appears (true for added special
   tokens and for character-level vocabularies).
2. `class_V = token_classes(texts)`: for each token id, what its text is:
   a digit 0-9, one of `+ - * / ( )`, whitespace only, or OTHER; plus the
   LEAD flag if the text starts with whitespace before that character
   (SentencePiece '▁3', BPE ' 3'). Tokens holding several digits or
   operators (Llama-3 groups 3 digits) are OTHER, so number answers need a
   tokenizer that writes one digit per token (character-level, Qwen2,
   SentencePiece with split_digits).
"""
import dataclasses
from typing import Sequence

import jax.numpy as jnp
import numpy as np

PLUS, MINUS, TIMES, DIVIDE, LPAREN, RPAREN = 10, 11, 12, 13, 14, 15
WS, OTHER = 16, 17
LEAD = 32  # Added to a class when the token text starts with whitespace.
_CHARS = {'+': PLUS, '-': MINUS, '*': TIMES, '/': DIVIDE, '(': LPAREN,
          ')': RPAREN}


@dataclasses.dataclass(frozen=True)
class Tags:
  """Token-id sequences of the four tags (static, hashable)."""
  think_open: tuple[int, ...]
  think_close: tuple[int, ...]
  answer_open: tuple[int, ...]
  answer_close: tuple[int, ...]

  @classmethod
  def from_encode(cls, encode) -> 'Tags':
    """Builds the tags with `encode(str) -> list[int]`."""
    return cls(*(tuple(int(i) for i in encode(t)) for t in
                 ('<think>', '</think>', '<answer>', '</answer>')))


def token_classes(texts: Sequence[str],
                  ignore_ids: Sequence[int] = ()) -> np.ndarray:
  """int32[V] class per token id from each token's decoded text.

  `ignore_ids` (e.g. EOS, padding) are classed as whitespace, so they may
  follow `</answer>`.
  """
  out = np.full((len(texts),), OTHER, np.int32)
  for i, text in enumerate(texts):
    text = text.replace('\u2581', ' ')  # SentencePiece's space marker.
    core = text.lstrip()
    if not core:
      out[i] = WS if text else OTHER
    elif len(core) == 1 and (core.isdigit() and core.isascii()
                             or core in _CHARS):
      code = int(core) if core.isdigit() else _CHARS[core]
      out[i] = code + (LEAD if len(core) < len(text) else 0)
  for i in ignore_ids:
    out[i] = WS
  return out


def match(tokens_BxT, mask_BxT, seq: Sequence[int]):
  """bool[B, T]: True where `seq` starts at t, entirely inside the mask."""
  hit_BxT = jnp.ones(tokens_BxT.shape, bool)
  for k, tok in enumerate(seq):
    pad = ((0, 0), (0, k))
    tok_BxT = jnp.pad(tokens_BxT[:, k:], pad, constant_values=-1)
    in_BxT = jnp.pad(mask_BxT[:, k:].astype(bool), pad)
    hit_BxT &= (tok_BxT == tok) & in_BxT
  return hit_BxT


def cover(hit_BxT, length: int):
  """bool[B, T]: tokens that belong to a match starting in `hit_BxT`."""
  out_BxT = hit_BxT
  for k in range(1, length):
    out_BxT |= jnp.pad(hit_BxT[:, :-k], ((0, 0), (k, 0)))
  return out_BxT


def first(hit_BxT, default: int):
  """int32[B]: first True position, `default` if none."""
  pos_T = jnp.arange(hit_BxT.shape[1], dtype=jnp.int32)
  big = hit_BxT.shape[1]
  p_B = jnp.min(jnp.where(hit_BxT, pos_T, big), axis=1)
  return jnp.where(p_B == big, default, p_B).astype(jnp.int32)


def last(hit_BxT, default: int):
  """int32[B]: last True position, `default` if none."""
  pos_T = jnp.arange(hit_BxT.shape[1], dtype=jnp.int32)
  p_B = jnp.max(jnp.where(hit_BxT, pos_T, -1), axis=1)
  return jnp.where(p_B < 0, default, p_B).astype(jnp.int32)
