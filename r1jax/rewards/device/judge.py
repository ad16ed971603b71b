"""The generative judge inside a compiled program, on token ids.

`judge(...)` is a pure function: it builds each row's judge prompt from
token pieces (no host round-trip), samples the frozen judge greedily for a
few tokens with `sampling.sample`, and reads the verdict from the ids with
the host's rules (`r1jax.rewards.judge`, module doc), so that

  judge(...).value_B == host parse(decode(judge completion))

and the prompt rows decode to the host's `render(...)` text.

Prompt rows: the template's literal pieces are encoded once on the host
(`Pieces.build`); inside the program each row is the concatenation
  literal_0, field_0, literal_1, field_1, literal_2, field_2, literal_3
with the fields' own masks, so a row has masked gaps (padding, stripped
ids, the `<think>` part under span='summary'). The sampler reads positions
as cumsum(mask) - 1 and ignores masked keys, so a gapped row prompts the
judge exactly like the same tokens packed; the last column is the last
literal's last token (the template ends with text). Rows decode to the
host text when the tokenizer encodes pieces losslessly and a field's
text is the concatenation of its token texts (character-level and
byte-level BPE vocabularies; `Pieces.build` checks the first).

Verdicts: each completion id is expanded to the bytes of its text
(`char_table`, built once), the bytes are packed left (markdown marks and
stripped ids dropped, ASCII lower-cased) and the host's pattern is matched
on them; the last match counts.

Letters: P prompts, B = P * G rows (prompt-major), Q question, R
reference, M completion, T judge prompt, N judge tokens, W bytes per token,
C = N * W packed bytes, V vocab.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from r1jax.rewards import judge as host
from r1jax.rewards.device import vocab
from r1jax.sampling import sampler as sampler_lib
from r1jax.sampling.strategies import Sampling

# Bytes kept per token text: longer texts (runs of spaces or dashes) are
# cut, which only matters if a verdict hides inside such a token.
MAX_TOKEN_BYTES = 32
GREEDY = Sampling(temperature=0.0)


@dataclasses.dataclass(frozen=True)
class Pieces:
  """The static half of a judge: template pieces as token ids and how the
  completion is read (hashable; a jit static argument)."""
  literals: tuple[tuple[int, ...], ...]  # len(fields) + 1 pieces
  fields: tuple[str, ...]  # order of question / reference / response
  kind: str  # host.KINDS
  span: str  # host.SPANS
  think_close: tuple[int, ...]  # ids of `</think>` (span='summary')
  strip_ids: tuple[int, ...] = ()  # left out of every field (EOS, BOS...)
  stop_ids: tuple[int, ...] = ()  # end the judge's completion (its EOS)
  pad_id: int = 0
  max_new_tokens: int = 16

  @classmethod
  def build(cls, encode: Callable[[str], Sequence[int]], template: str, *,
            parse_as: str = '', span: str = 'summary',
            max_new_tokens: int = 16, think_close: Sequence[int] = (),
            bos_id: int | None = None, strip_ids: Sequence[int] = (),
            stop_ids: Sequence[int] = (), pad_id: int = 0,
            wrap: tuple[str, str] = ('', ''),
            decode: Callable[[Sequence[int]], str] | None = None
            ) -> 'Pieces':
    """Encodes the template's literals (a name or a text; `wrap` the chat
    markup around it) with `encode`, BOS first when given. With `decode`,
    a ValueError unless every piece decodes back to its text (else device
    rows would not be the host's text)."""
    literals, fields = host.split(host.template_text(template))
    literals = (wrap[0] + literals[0],) + literals[1:-1] + (
        literals[-1] + wrap[1],)
    ids = [tuple(int(i) for i in encode(t)) for t in literals]
    if decode is not None:
      for text, piece in zip(literals, ids):
        if decode(piece) != text:
          raise ValueError(
              f'the tokenizer does not encode the judge template losslessly '
              f'({text[:30]!r} decodes to {decode(piece)[:30]!r}): device '
              'rows would not be the host text; use a byte-level BPE or '
              'character-level tokenizer, or judge on the host')
    if bos_id is not None and ids[0][:1] != (bos_id,):
      ids[0] = (int(bos_id),) + ids[0]
    if not ids[-1]:
      raise ValueError('the judge template must end with text')
    if max_new_tokens < 1:
      raise ValueError(f'max_new_tokens={max_new_tokens}: >= 1')
    if span not in host.SPANS:
      raise ValueError(f'span={span!r}; allowed: {host.SPANS}')
    return cls(tuple(ids), fields, host.kind(template, parse_as), span,
               tuple(int(i) for i in think_close),
               tuple(sorted({int(i) for i in strip_ids})),
               tuple(int(i) for i in stop_ids), int(pad_id),
               int(max_new_tokens))


def char_table(texts: Sequence[str], strip_ids: Sequence[int] = (),
               width: int = MAX_TOKEN_BYTES) -> np.ndarray:
  """uint8 [V, W]: the UTF-8 bytes of each token's text, ASCII lower-cased,
  markdown marks (`host.MARKUP`) and stripped ids' texts dropped, 0 =
  none. W = the longest text, at most `width`. `texts`: the text of each
  id on its own (`Tokenizer.token_texts()`)."""
  rows = []
  drop = {int(i) for i in strip_ids}
  for i, t in enumerate(texts):
    b = b'' if i in drop else host.fold(t).encode('utf-8', 'replace')
    rows.append(b.replace(b'\0', b'')[:width])
  w = max(1, max(len(b) for b in rows))
  out = np.zeros((len(rows), w), np.uint8)
  for i, b in enumerate(rows):
    out[i, :len(b)] = np.frombuffer(b, np.uint8)
  return out


# PROMPT ROWS


def _rows_like(x, b: int):
  """[P or B, ...] -> [B, ...]: a prompt's row repeated for its G rows."""
  if x.shape[0] == b:
    return x
  if b % x.shape[0]:
    raise ValueError(f'{x.shape[0]} prompt rows for {b} completion rows')
  return jnp.repeat(x, b // x.shape[0], axis=0)


def response_mask(pieces: Pieces, tokens_BxM, mask_BxM):
  """int32 [B, M]: the completion tokens the judge sees (span; stripped
  ids out). Under 'summary', those after the last `</think>`, or all of
  them without one (`extract.final_section`)."""
  keep_BxM = mask_BxM.astype(bool)
  if pieces.strip_ids:
    keep_BxM &= ~jnp.isin(tokens_BxM, jnp.asarray(pieces.strip_ids))
  if pieces.span == 'summary':
    close = pieces.think_close
    if not close:
      raise ValueError("span='summary' needs the ids of </think>")
    hit_BxM = vocab.match(tokens_BxM, mask_BxM, close)
    start_B = vocab.last(hit_BxM, -len(close)) + len(close)
    t_1xM = jnp.arange(tokens_BxM.shape[1], dtype=jnp.int32)[None, :]
    keep_BxM &= t_1xM >= start_B[:, None]
  return keep_BxM.astype(jnp.int32)


def build_rows(pieces: Pieces, question_PxQ, question_mask_PxQ, tokens_BxM,
               mask_BxM, reference_PxR, reference_mask_PxR):
  """(rows_BxT, rows_mask_BxT) int32: each completion row's judge prompt
  (module doc). Question and reference rows are per prompt ([P, ...],
  repeated for the G rows of each) or per row ([B, ...]); any padding
  side."""
  b = tokens_BxM.shape[0]
  strip = jnp.asarray(pieces.strip_ids or (-1,), jnp.int32)

  def field(x, m):
    x, m = _rows_like(x, b).astype(jnp.int32), _rows_like(m, b)
    return x, (m.astype(bool) & ~jnp.isin(x, strip)).astype(jnp.int32)

  values = {
      'question': field(question_PxQ, question_mask_PxQ),
      'reference': field(reference_PxR, reference_mask_PxR),
      'response': (tokens_BxM.astype(jnp.int32),
                   response_mask(pieces, tokens_BxM, mask_BxM)),
  }
  toks, masks = [], []
  for i, lit in enumerate(pieces.literals):
    if lit:
      toks.append(jnp.broadcast_to(jnp.asarray(lit, jnp.int32),
                                   (b, len(lit))))
      masks.append(jnp.ones((b, len(lit)), jnp.int32))
    if i < len(pieces.fields):
      x, m = values[pieces.fields[i]]
      toks.append(x)
      masks.append(m)
  mask_BxT = jnp.concatenate(masks, axis=1)
  rows_BxT = jnp.where(mask_BxT > 0, jnp.concatenate(toks, axis=1),
                       pieces.pad_id)
  return rows_BxT, mask_BxT


# VERDICTS


def pack_bytes(chars_VxW, tokens_BxN, mask_BxN):
  """(bytes_BxC int32, n_B): the completion's bytes packed to the left
  (C = N * W; 0 after the last byte)."""
  b, n = tokens_BxN.shape
  w = chars_VxW.shape[1]
  ids_BxN = jnp.clip(tokens_BxN, 0, chars_VxW.shape[0] - 1)
  c_BxC = chars_VxW[ids_BxN].astype(jnp.int32).reshape(b, n * w)
  real_BxC = (c_BxC > 0) & jnp.repeat(mask_BxN.astype(bool), w, axis=1)
  slot_BxC = jnp.where(real_BxC, jnp.cumsum(real_BxC, axis=1) - 1, n * w)
  rows_BxC = jnp.broadcast_to(jnp.arange(b)[:, None], (b, n * w))
  packed_BxC = jnp.zeros((b, n * w), jnp.int32).at[rows_BxC, slot_BxC].set(
      c_BxC, mode='drop')
  return packed_BxC, real_BxC.sum(axis=1)


def _at(c_BxC, pos_BxC):
  """Byte at each position; 0 past the end."""
  big = c_BxC.shape[1]
  got = jnp.take_along_axis(c_BxC, jnp.clip(pos_BxC, 0, big - 1), axis=1)
  return jnp.where((pos_BxC >= 0) & (pos_BxC < big), got, 0)


def _is_in(c, chars: str):
  return jnp.isin(c, jnp.asarray([ord(x) for x in chars], jnp.int32))


def _digit(c):
  return (c >= ord('0')) & (c <= ord('9'))


def _alnum(c):
  return _digit(c) | ((c >= ord('a')) & (c <= ord('z')))


def _literal_at(c_BxC, mask_BxC, text: str):
  return vocab.match(c_BxC, mask_BxC, [ord(x) for x in text])


def _skip_ws(c_BxC):
  """int32 [B, C]: the first position >= t that is not whitespace."""
  c = c_BxC.shape[1]
  t_BxC = jnp.broadcast_to(jnp.arange(c, dtype=jnp.int32), c_BxC.shape)
  idx_BxC = jnp.where(_is_in(c_BxC, host.WHITESPACE), c, t_BxC)
  return jax.lax.cummin(idx_BxC, axis=1, reverse=True)


def parse_bytes(kind: str, c_BxC, n_B):
  """(value_B float32, ok_B bool) of packed bytes, the host's rules."""
  c = c_BxC.shape[1]
  t_BxC = jnp.broadcast_to(jnp.arange(c, dtype=jnp.int32), c_BxC.shape)
  mask_BxC = t_BxC < n_B[:, None]
  nxt_BxC = _skip_ws(c_BxC)
  # Pad so that nxt[p] is defined for p = C (past the end).
  nxt_BxC1 = jnp.pad(nxt_BxC, ((0, 0), (0, 1)), constant_values=c)
  skip = lambda p: jnp.take_along_axis(  # noqa: E731
      nxt_BxC1, jnp.clip(p, 0, c), axis=1)
  word = host.VERDICT if kind == host.VERDICT else host.SCORE
  colon_BxC = skip(t_BxC + len(word))
  start_BxC = _literal_at(c_BxC, mask_BxC, word) & (
      _at(c_BxC, colon_BxC) == ord(':'))
  p_BxC = skip(colon_BxC + 1)
  if kind == host.VERDICT:
    def word_at(w):
      hit_BxC = _literal_at(c_BxC, mask_BxC, w)
      return _at(hit_BxC.astype(jnp.int32), p_BxC).astype(bool) & ~_alnum(
          _at(c_BxC, p_BxC + len(w)))
    bad_BxC, good_BxC = word_at('incorrect'), word_at('correct')
    hit_BxC = start_BxC & (bad_BxC | good_BxC)
    value_BxC = good_BxC.astype(jnp.float32)
    lo, hi = 0, 1
  else:
    d1, d2, d3 = (_at(c_BxC, p_BxC + k) for k in range(3))
    two_BxC = _digit(d2)
    after_BxC = p_BxC + 1 + two_BxC
    decimal_BxC = (_at(c_BxC, after_BxC) == ord('.')) & _digit(
        _at(c_BxC, after_BxC + 1))
    hit_BxC = start_BxC & _digit(d1) & ~(two_BxC & _digit(d3)) & ~decimal_BxC
    num_BxC = jnp.where(two_BxC, (d1 - 48) * 10 + d2 - 48, d1 - 48)
    value_BxC = num_BxC.astype(jnp.float32)
    lo, hi = host.SCORE_MIN, host.SCORE_MAX
  last_B = vocab.last(hit_BxC, -1)
  found_B = last_B >= 0
  v_B = jnp.take_along_axis(value_BxC, jnp.maximum(last_B, 0)[:, None],
                            axis=1)[:, 0]
  ok_B = found_B & (v_B >= lo) & (v_B <= hi)
  value_B = jnp.where(ok_B, (v_B - lo) / (hi - lo), 0.0)
  return value_B.astype(jnp.float32), ok_B


def parse_tokens(kind: str, chars_VxW, tokens_BxN, mask_BxN):
  """(value_B, ok_B) of judge completions given as token ids."""
  c_BxC, n_B = pack_bytes(chars_VxW, tokens_BxN, mask_BxN)
  return parse_bytes(kind, c_BxC, n_B)


# THE JUDGE


class Judged(NamedTuple):
  """The judge's verdicts, and what it saw and wrote (for checks/logs)."""
  value_B: jax.Array  # float32 in [0, 1]; 0 where not ok
  ok_B: jax.Array  # bool: a well-formed verdict was read
  rows_BxT: jax.Array  # int32 judge prompts (masked gaps)
  rows_mask_BxT: jax.Array
  tokens_BxN: jax.Array  # the judge's completion (greedy)
  mask_BxN: jax.Array


def judge(judge_params, judge_cfg, pieces: Pieces, chars_VxW, question_PxQ,
          question_mask_PxQ, tokens_BxM, mask_BxM, reference_PxR,
          reference_mask_PxR, cache_dtype=None) -> Judged:
  """Judges B completions inside a traced program (module doc).

  Args:
    judge_params, judge_cfg: the frozen judge (same tokenizer as the
      policy). judge_cfg and pieces are static.
    pieces: `Pieces.build(...)` of the template.
    chars_VxW: `char_table(tok.token_texts(), strip_ids)`.
    question_PxQ, question_mask_PxQ: the question's tokens (the policy's
      prompt tokens, or the bare question's), per prompt or per row.
    tokens_BxM, mask_BxM: the completions (the sampler's output).
    reference_PxR, reference_mask_PxR: the reference answers' tokens.
    cache_dtype: the judge's KV-cache dtype (None: its compute dtype).
  """
  # Ids past the tokenizer's (embedding rows it never assigned, which a
  # policy can still sample) have no text: the host's decode drops them.
  mask_BxM = mask_BxM * (tokens_BxM < chars_VxW.shape[0]).astype(
      mask_BxM.dtype)
  rows_BxT, rows_mask_BxT = build_rows(
      pieces, question_PxQ, question_mask_PxQ, tokens_BxM, mask_BxM,
      reference_PxR, reference_mask_PxR)
  need = rows_BxT.shape[1] + pieces.max_new_tokens
  if need > judge_cfg.max_seq_len:
    raise ValueError(f'the judge prompt ({rows_BxT.shape[1]} columns) + '
                     f'{pieces.max_new_tokens} new tokens > the judge\'s '
                     f'max_seq_len {judge_cfg.max_seq_len}')
  out = sampler_lib.sample(
      judge_params, judge_cfg, rows_BxT, rows_mask_BxT, jax.random.key(0),
      max_new_tokens=pieces.max_new_tokens, sampling=GREEDY,
      stop_ids=pieces.stop_ids, num_samples=1, pad_id=pieces.pad_id,
      cache_dtype=cache_dtype)
  value_B, ok_B = parse_tokens(pieces.kind, chars_VxW, out.tokens_BxM,
                               out.mask_BxM)
  return Judged(value_B, ok_B, rows_BxT, rows_mask_BxT, out.tokens_BxM,
                out.mask_BxM)
