"""Host-side input pipeline: tokenize, pack, batch, shard across hosts.

Everything up to `to_global` is numpy and deterministic. `SftData.batch(step)`
is a pure function of `step`, so a run resumes at any step (same batches) by
saving only the step number.

Packed rows hold several documents. Each row has `tokens`, `segment_ids` (1, 2,
... per document, 0 for padding), `positions` (restarting at 0 per document)
and `loss_mask`, aligned for next-token prediction: `loss_mask[t]` is 1 iff
`tokens[t + 1]` is a trained target of the same document, so the logits at `t`
are scored against `tokens[t + 1]` and no loss crosses a document boundary.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding

from r1jax import sharding
from r1jax import tokenizers

# (token ids, loss mask); mask[i] = 1 means token i is a trained target.
Example = tuple[Sequence[int], Sequence[int]]
KEYS = ('tokens', 'segment_ids', 'positions', 'loss_mask')
# Reshuffles tried per epoch to fit the fixed row budget (see SftData).
_MAX_TRIES = 100
# Packed epochs (order + row starts) kept in memory.
_CACHE_EPOCHS = 2


class PackStats(NamedTuple):
  rows: int
  examples: int  # non-empty examples packed
  truncated: int  # examples longer than seq_len, cut to seq_len
  tokens: int  # tokens kept after truncation


# ENCODE


def _bos(tokenizer: tokenizers.Tokenizer, add_bos: bool | None) -> bool:
  # Default as in the generate stage: a BOS if the tokenizer has one.
  return tokenizer.bos_id is not None if add_bos is None else add_bos


def encode_sft(records: Iterable[Mapping[str, Any]],
               tokenizer: tokenizers.Tokenizer, *, prompt_field: str = 'prompt',
               completion_field: str = 'completion', add_eos: bool = True,
               add_bos: bool | None = None) -> list[Example]:
  """(ids, mask) pairs: prompt tokens mask 0, completion (+EOS) tokens 1.

  Prompt and completion are tokenized separately, as at sampling time.
  `add_bos=None` adds a BOS iff the tokenizer has one.
  """
  bos = _bos(tokenizer, add_bos)
  out = []
  for r in records:
    p = tokenizer.encode(r[prompt_field], add_bos=bos)
    c = tokenizer.encode(r[completion_field], add_eos=add_eos)
    out.append((p + c, [0] * len(p) + [1] * len(c)))
  return out


def encode_text(texts: Iterable[str], tokenizer: tokenizers.Tokenizer, *,
                add_eos: bool = True,
                add_bos: bool | None = None) -> list[Example]:
  """(ids, mask) pairs for pretraining text: every token is a target."""
  bos = _bos(tokenizer, add_bos)
  out = []
  for t in texts:
    ids = tokenizer.encode(t, add_bos=bos, add_eos=add_eos)
    out.append((ids, [1] * len(ids)))
  return out


# PACK


def _as_arrays(examples: Iterable[Example], seq_len: int):
  """int32 (ids, mask) pairs cut to seq_len, empty ones dropped; # cut."""
  if seq_len < 1:
    raise ValueError(f'seq_len must be >= 1, got {seq_len}')
  src = MemorySource(examples)
  docs = src.read(range(len(src.lengths)))
  return ([(ids[:seq_len], mask[:seq_len]) for ids, mask in docs if len(ids)],
          int((src.lengths > seq_len).sum()))


def _row_starts(lengths: Sequence[int], seq_len: int) -> np.ndarray:
  """Greedy in-order (next-fit) packing: first example index of each row."""
  starts, used = [], seq_len
  for i, n in enumerate(lengths):
    if used + n > seq_len:
      starts.append(i)
      used = 0
    used += n
  return np.asarray(starts, np.int64)


def _fill(rows: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
          seq_len: int, pad_id: int) -> dict[str, np.ndarray]:
  """[R, T] arrays from rows of documents (an empty row is all padding)."""
  out = {k: np.zeros((len(rows), seq_len), np.int32) for k in KEYS}
  out['tokens'][:] = pad_id
  for r, docs in enumerate(rows):
    t = 0
    for seg, (ids, mask) in enumerate(docs, 1):
      n = len(ids)
      out['tokens'][r, t:t + n] = ids
      out['segment_ids'][r, t:t + n] = seg
      out['positions'][r, t:t + n] = np.arange(n, dtype=np.int32)
      # Logits at t predict t + 1; a document's last token predicts nothing.
      out['loss_mask'][r, t:t + n - 1] = mask[1:]
      t += n
  return out


def _split(docs: Sequence[Any], starts: np.ndarray) -> list[Sequence[Any]]:
  ends = list(starts[1:]) + [len(docs)]
  return [docs[a:b] for a, b in zip(starts, ends)]


def pack_with_stats(examples: Iterable[Example], seq_len: int, *,
                    pad_id: int = 0):
  """`pack` plus its PackStats (rows, examples, truncated, tokens)."""
  docs, truncated = _as_arrays(examples, seq_len)
  starts = _row_starts([len(ids) for ids, _ in docs], seq_len)
  batch = _fill(_split(docs, starts), seq_len, pad_id)
  stats = PackStats(rows=len(starts), examples=len(docs), truncated=truncated,
                    tokens=sum(len(ids) for ids, _ in docs))
  return batch, stats


def pack(examples: Iterable[Example], seq_len: int, *,
         pad_id: int = 0) -> dict[str, np.ndarray]:
  """Greedy in-order packing into int32 [R, seq_len] rows (module doc).

  Examples longer than seq_len keep their first seq_len tokens
  (`pack_with_stats` counts them); empty examples are dropped.
  """
  return pack_with_stats(examples, seq_len, pad_id=pad_id)[0]


# BATCH


class MemorySource:
  """Examples as int32 arrays in memory. A source gives `lengths` (int64
  [N], uncut) and `read(ids)`; `prepared.PreparedSource` reads from disk."""

  def __init__(self, examples: Iterable[Example]):
    self._docs = []
    for n, (ids, mask) in enumerate(examples):
      ids, mask = np.asarray(ids, np.int32), np.asarray(mask, np.int32)
      if ids.ndim != 1 or ids.shape != mask.shape:
        raise ValueError(f'example {n}: token ids {ids.shape} and loss mask '
                         f'{mask.shape} must be 1-D and of equal length')
      self._docs.append((ids, mask))
    self.lengths = np.array([len(ids) for ids, _ in self._docs], np.int64)

  def read(self, ids: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [self._docs[i] for i in ids]


class SftData:
  """Packed, shuffled SFT/pretraining batches; `batch(step)` is pure.

  Epoch e shuffles the examples with `np.random.default_rng((seed, e))` and
  packs them in that order. Packed row counts vary a little with the order,
  while `epoch = step // num_batches_per_epoch` needs a fixed count, so every
  epoch has `rows_per_epoch = num_batches_per_epoch * batch_size` rows, the
  first epoch's row count rounded up to whole batches; spare rows are all
  padding (loss mask 0). An epoch whose order needs more rows is reshuffled
  with `(seed, e, try)` until it fits, so each epoch covers every example
  exactly once. Only the layout (order and row starts, from the lengths) is
  cached; rows are filled per batch from `source` (default: a MemorySource
  of `examples`), and `host_batch` reads only one host's rows.
  """

  def __init__(self, examples: Iterable[Example] = (), *, seq_len: int,
               batch_size: int, seed: int, shuffle: bool = True,
               pad_id: int = 0, source=None):
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if seq_len < 1:
      raise ValueError(f'seq_len must be >= 1, got {seq_len}')
    self.seq_len, self.batch_size = seq_len, batch_size
    self.seed, self.shuffle, self.pad_id = seed, shuffle, pad_id
    self.source = MemorySource(examples) if source is None else source
    lengths = np.asarray(self.source.lengths, np.int64)
    # Empty examples are dropped; longer ones keep their first seq_len.
    self._index = np.flatnonzero(lengths > 0)
    self.num_truncated = int((lengths > seq_len).sum())
    if not len(self._index):
      raise ValueError('SftData: no non-empty examples')
    self._lengths = np.minimum(lengths[self._index], seq_len)
    self.num_examples = len(self._index)
    self.num_tokens = int(self._lengths.sum())
    self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    self.rows_per_epoch = None  # no budget while packing epoch 0
    rows = len(self._plan(0)[1])
    if rows < batch_size:
      raise ValueError(
          f'SftData: {self.num_examples} examples pack into {rows} rows of '
          f'seq_len={seq_len}, fewer than batch_size={batch_size}; use more '
          'data, a smaller batch_size or a smaller seq_len')
    self.num_batches_per_epoch = -(-rows // batch_size)
    self.rows_per_epoch = self.num_batches_per_epoch * batch_size

  def _order(self, epoch: int, attempt: int) -> np.ndarray:
    if not self.shuffle:
      return np.arange(self.num_examples)
    key = (self.seed, epoch) if attempt == 0 else (self.seed, epoch, attempt)
    return np.random.default_rng(key).permutation(self.num_examples)

  def _plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(example order, first order index of each row) of one epoch."""
    if epoch in self._cache:
      return self._cache[epoch]
    best = None
    for attempt in range(_MAX_TRIES if self.shuffle else 1):
      order = self._order(epoch, attempt)
      starts = _row_starts(self._lengths[order].tolist(), self.seq_len)
      if best is None or len(starts) < len(best[1]):
        best = (order, starts)
      if self.rows_per_epoch is None or len(starts) <= self.rows_per_epoch:
        break
    order, starts = best
    if self.rows_per_epoch is not None and len(starts) > self.rows_per_epoch:
      # Not reached in practice; never stop a training run over it.
      logging.warning('SftData epoch %d: %d packed rows exceed the budget of '
                      '%d; the last rows are skipped', epoch, len(starts),
                      self.rows_per_epoch)
    if len(self._cache) >= _CACHE_EPOCHS:
      self._cache.pop(min(self._cache))
    self._cache[epoch] = (order, starts)
    return order, starts

  def epoch_of(self, step: int) -> int:
    return step // self.num_batches_per_epoch

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """The global batch of `step`: int32 [batch_size, seq_len] arrays."""
    return self.host_batch(step, 0, 1)

  def host_batch(self, step: int, process_index: int,
                 process_count: int) -> dict[str, np.ndarray]:
    """`host_slice(batch(step), ...)`, reading only this host's rows."""
    if step < 0:
      raise ValueError(f'step must be >= 0, got {step}')
    if self.batch_size % process_count:
      raise ValueError(f'batch_size={self.batch_size} rows do not split over '
                       f'{process_count} processes')
    n = self.batch_size // process_count
    epoch, i = divmod(step, self.num_batches_per_epoch)
    order, starts = self._plan(epoch)
    first = i * self.batch_size + process_index * n
    rows = []
    for r in range(first, first + n):
      end = starts[r + 1] if r + 1 < len(starts) else len(order)
      idx = order[starts[r]:end] if r < len(starts) else order[:0]
      docs = self.source.read(self._index[idx].tolist())
      rows.append([(ids[:self.seq_len], mask[:self.seq_len])
                   for ids, mask in docs])
    return _fill(rows, self.seq_len, self.pad_id)


# SHARD


def host_slice(batch: Mapping[str, np.ndarray], process_index: int,
               process_count: int) -> dict[str, np.ndarray]:
  """This host's contiguous block of rows of a global batch."""
  out = {}
  for k, v in batch.items():
    rows = v.shape[0]
    if rows % process_count:
      raise ValueError(f'{k}: {rows} rows do not split over {process_count} '
                       'processes')
    n = rows // process_count
    out[k] = v[process_index * n:(process_index + 1) * n]
  return out


def to_global(batch: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh,
              rules=sharding.DEFAULT_RULES,
              axes: Sequence[str | None] = ('act_batch', 'act_len'),
              ) -> dict[str, jax.Array]:
  """Global arrays from this host's rows (`host_slice`), sharded by `axes`.

  Hosts hold consecutive row blocks in process order. Arrays of rank below
  len(axes) use its first names; higher ranks are unsharded beyond it.
  """
  procs = jax.process_count()
  out = {}
  for k, v in batch.items():
    local = np.asarray(v)
    shape = (local.shape[0] * procs,) + local.shape[1:]
    names = tuple(axes[:local.ndim]) + (None,) * (local.ndim - len(axes))
    spec = sharding.spec_for(shape, names, rules, mesh)
    if procs > 1 and spec[0] is None:
      raise ValueError(f'{k}: a global batch of {shape[0]} rows is not '
                       f'sharded by {axes[0]!r} on mesh {dict(mesh.shape)}, '
                       'so hosts cannot each pass only their rows')
    out[k] = jax.make_array_from_process_local_data(
        NamedSharding(mesh, spec), local, shape)
  return out
