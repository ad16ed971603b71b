"""Stream a prepared dataset into packed batches, with bounded memory.

`PreparedSource` is a `pipeline.SftData` source: it holds every example's
length (8 bytes per example, from the shards' offsets) and reads an
example's tokens and mask from disk when a batch needs them. SftData plans
each epoch from the lengths alone (a seeded global permutation, reshuffled
per epoch, then next-fit packing), so `batch(step)` stays a pure function of
the step: a resumed run sees exactly the batches of an uninterrupted one
with only the step saved (the checkpoint's `data_position`), and a host
reads only the examples of its own rows (`SftData.host_batch`).
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Callable, Sequence

import numpy as np

from r1jax.data import pipeline
from r1jax.data.prepared import _format as fmt


class PreparedSource:
  """Lengths of all examples; tokens and masks read with `os.pread`."""

  def __init__(self, directory: str):
    self.directory = directory
    self.metadata = meta = fmt.read_metadata(directory)
    if 'num_shards' not in meta:
      raise ValueError(f'{directory}: preparation is not finished (shards '
                       'missing); rerun experiments/prepare_sft.py (every '
                       'process) to complete it')
    self._offsets = [np.load(fmt.shard_path(directory, s, 'offsets.npy'))
                     for s in range(meta['num_shards'])]
    counts = np.array([len(o) - 1 for o in self._offsets], np.int64)
    self._first = np.concatenate([[0], np.cumsum(counts)])
    self.lengths = (np.concatenate([np.diff(o) for o in self._offsets])
                    if self._offsets else np.zeros(0, np.int64))
    self._fds: dict[tuple[int, str], int] = {}
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self.lengths)

  def _fd(self, shard: int, suffix: str) -> int:
    key = (shard, suffix)
    with self._lock:
      if key not in self._fds:  # a host opens only the shards it reads
        self._fds[key] = os.open(
            fmt.shard_path(self.directory, shard, suffix), os.O_RDONLY)
      return self._fds[key]

  def read(self, ids: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    shards = np.searchsorted(self._first, ids, side='right') - 1
    for i, s in zip(ids, shards.tolist()):
      off = self._offsets[s]
      j = i - int(self._first[s])
      a, n = int(off[j]), int(off[j + 1] - off[j])
      size = fmt.TOKEN_DTYPE.itemsize
      ids_ = np.frombuffer(os.pread(self._fd(s, 'tokens'), n * size,
                                    a * size), fmt.TOKEN_DTYPE)
      mask = np.frombuffer(os.pread(self._fd(s, 'mask'), n, a),
                           fmt.MASK_DTYPE)
      out.append((ids_.astype(np.int32), mask.astype(np.int32)))
    return out

  def close(self) -> None:
    with self._lock:
      for fd in self._fds.values():
        os.close(fd)
      self._fds.clear()


def open_data(directory: str, *, seq_len: int, batch_size: int, seed: int,
              shuffle: bool = True, pad_id: int = 0,
              tokenizer=None) -> pipeline.SftData:
  """SftData over a prepared directory; with `tokenizer`, a ValueError
  naming both tokenizers unless it is the one the data was prepared with."""
  source = PreparedSource(directory)
  if tokenizer is not None:
    fmt.check_tokenizer(source.metadata['tokenizer'],
                        fmt.tokenizer_identity(tokenizer), directory)
    template = source.metadata.get('template')
    own = getattr(tokenizer, 'chat_template', None)
    if template and own is not None and own.template != template:
      raise ValueError(f'{directory}: the conversations were rendered with '
                       f'another chat template than {own.source}; prepare '
                       'the data again with this tokenizer')
  return pipeline.SftData(seq_len=seq_len, batch_size=batch_size, seed=seed,
                          shuffle=shuffle, pad_id=pad_id, source=source)


class Prefetcher:
  """`get(step)` of `fn(step)`, computed `depth` steps ahead on a thread.

  Steps are asked for in order; any other step restarts the thread there.
  `fn` must be a pure function of the step (SftData.host_batch is).
  """

  def __init__(self, fn: Callable[[int], object], depth: int = 2):
    self.fn, self.depth = fn, max(1, depth)
    self._thread, self._next = None, None

  def _start(self, step: int) -> None:
    self.close()
    self._queue = queue.Queue(self.depth)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._work, args=(step,),
                                    daemon=True, name='sft-prefetch')
    self._thread.start()
    self._next = step

  def _work(self, step: int) -> None:
    while not self._stop.is_set():
      try:
        item = (self.fn(step), None)
      except Exception as e:  # pylint: disable=broad-except
        item = (None, e)
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          pass
      if item[1] is not None:
        return
      step += 1

  def get(self, step: int):
    if self._thread is None or step != self._next:
      self._start(step)
    value, error = self._queue.get()
    if error is not None:
      self._thread = None
      raise error
    self._next = step + 1
    return value

  def close(self) -> None:
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None
