"""Jittable format reward and the answer span, on completion tokens.

Same rule as the host `rewards.format.is_formatted`: each tag exactly once
(`<think>` zero times when `think_opened`), in order, a non-blank CoT and
answer, and only whitespace outside them. Inputs: `tokens_BxT` (int32
completion tokens), `mask_BxT` (1 on completion tokens, 0 on padding),
`class_V` and `tags` from `rewards.device.vocab`.
"""
import jax.numpy as jnp

from r1jax.rewards import registry
from r1jax.rewards.device import vocab


def _blank(cls_BxT):
  return cls_BxT % vocab.LEAD == vocab.WS


def format_reward(tokens_BxT, mask_BxT, class_V, tags: vocab.Tags,
                  think_opened: bool = False):
  """float32[B]: 1.0 for a strictly formatted completion, else 0.0."""
  mask_BxT = mask_BxT.astype(bool)
  seqs = (tags.think_open, tags.think_close, tags.answer_open,
          tags.answer_close)
  hits = [vocab.match(tokens_BxT, mask_BxT, s) for s in seqs]
  counts = [h.sum(axis=1) for h in hits]
  ok_B = ((counts[0] == (0 if think_opened else 1)) & (counts[1] == 1)
          & (counts[2] == 1) & (counts[3] == 1))
  # Tag starts p and ends e; an opened <think> ends at position 0.
  p = [vocab.first(h, 0) for h in hits]
  if think_opened:
    p[0] = jnp.full_like(p[0], -len(tags.think_open))
  e = [pi + len(s) for pi, s in zip(p, seqs)]
  ok_B &= (e[0] <= p[1]) & (e[1] <= p[2]) & (e[2] <= p[3])
  in_tag_BxT = mask_BxT & False
  for h, s in zip(hits, seqs):
    in_tag_BxT |= vocab.cover(h, len(s))
  cls_BxT = class_V[jnp.clip(tokens_BxT, 0, class_V.shape[0] - 1)]
  text_BxT = mask_BxT & ~_blank(cls_BxT) & ~in_tag_BxT
  t_1xT = jnp.arange(tokens_BxT.shape[1], dtype=jnp.int32)[None, :]

  def within(lo_B, hi_B):
    return (t_1xT >= lo_B[:, None]) & (t_1xT < hi_B[:, None])

  big_B = jnp.full_like(p[0], tokens_BxT.shape[1])
  outside_BxT = (within(jnp.zeros_like(p[0]), p[0]) | within(e[1], p[2])
                 | within(e[3], big_B))
  ok_B &= ~jnp.any(text_BxT & outside_BxT, axis=1)
  ok_B &= jnp.any(text_BxT & within(e[0], p[1]), axis=1)
  ok_B &= jnp.any(text_BxT & within(e[2], p[3]), axis=1)
  return ok_B.astype(jnp.float32)


def answer_span(tokens_BxT, mask_BxT, tags: vocab.Tags):
  """(span_BxT, found_B): tokens inside the single `<answer>` block.

  As on the host (`rewards.extract`): only tokens after the last
  `</think>` count, and exactly one `<answer>` and one `</answer>` must be
  there, in order; otherwise found_B is False and the span empty.
  `\\boxed{}` answers are not read on device.
  """
  mask_BxT = mask_BxT.astype(bool)
  t_1xT = jnp.arange(tokens_BxT.shape[1], dtype=jnp.int32)[None, :]
  close_BxT = vocab.match(tokens_BxT, mask_BxT, tags.think_close)
  start_B = vocab.last(close_BxT, -len(tags.think_close))
  start_B += len(tags.think_close)
  after_BxT = t_1xT >= start_B[:, None]
  open_BxT = vocab.match(tokens_BxT, mask_BxT, tags.answer_open) & after_BxT
  shut_BxT = vocab.match(tokens_BxT, mask_BxT, tags.answer_close) & after_BxT
  lo_B = vocab.first(open_BxT, 0) + len(tags.answer_open)
  hi_B = vocab.first(shut_BxT, 0)
  found_B = ((open_BxT.sum(axis=1) == 1) & (shut_BxT.sum(axis=1) == 1)
             & (lo_B <= hi_B))
  span_BxT = ((t_1xT >= lo_B[:, None]) & (t_1xT < hi_B[:, None])
              & found_B[:, None] & mask_BxT)
  return span_BxT, found_B


@registry.register_device('format')
def format_twin(batch) -> jnp.ndarray:
  """The `format` reward's device twin."""
  return format_reward(batch.tokens_BxM, batch.mask_BxM, batch.class_V,
                       batch.tags, batch.think_opened)
