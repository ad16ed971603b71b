"""Packing, resumable batches, host slices and global arrays."""
import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from r1jax import sharding
from r1jax.data import pipeline


def _examples(n, seed=0, max_len=11):
  """Examples with unique token ids (100 * i + j) and random masks."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    length = int(rng.integers(1, max_len + 1))
    ids = [100 * i + j + 1 for j in range(length)]
    out.append((ids, rng.integers(0, 2, length).tolist()))
  return out


def _reference_mask(tokens, segments, mask_of_token):
  """loss_mask by the definition, one token at a time in plain python."""
  out = []
  for t in range(len(tokens)):
    nxt = t + 1 < len(tokens) and segments[t + 1] == segments[t] != 0
    out.append(int(nxt and mask_of_token[tokens[t + 1]] == 1))
  return out


def _documents(batch):
  """Per row, the token lists of its segments."""
  docs = []
  for tok, seg in zip(batch['tokens'], batch['segment_ids']):
    for s in range(1, seg.max() + 1):
      docs.append(tok[seg == s].tolist())
  return docs


def test_pack_layout_matches_definition():
  examples = _examples(40) + [([7001] * 20, [1] * 20)]  # one truncated
  seq_len = 12
  batch, stats = pipeline.pack_with_stats(examples, seq_len)
  assert stats.truncated == 1 and stats.examples == 41
  assert set(batch) == set(pipeline.KEYS)
  assert all(v.dtype == np.int32 and v.shape == (stats.rows, seq_len)
             for v in batch.values())
  mask_of_token = {t: m for ids, mask in examples
                   for t, m in zip(ids[:seq_len], mask[:seq_len])}
  for r in range(stats.rows):
    tok, seg = batch['tokens'][r], batch['segment_ids'][r]
    pos, mask = batch['positions'][r], batch['loss_mask'][r]
    # Segments are 1, 2, ... in order, contiguous, then padding (0).
    used = seg[seg > 0]
    assert np.all(np.diff(used) >= 0) and np.all(seg[len(used):] == 0)
    assert np.array_equal(np.unique(used), np.arange(1, used.max() + 1))
    for s in range(1, used.max() + 1):
      np.testing.assert_array_equal(pos[seg == s], np.arange((seg == s).sum()))
    assert np.all(tok[seg == 0] == 0) and np.all(mask[seg == 0] == 0)
    assert mask.tolist() == _reference_mask(tok.tolist(), seg.tolist(),
                                            mask_of_token)
  # Every (truncated) example appears exactly once, in order.
  assert _documents(batch) == [ids[:seq_len] for ids, _ in examples]
  # Greedy: the next document did not fit in the previous row.
  fill = (batch['segment_ids'] > 0).sum(1)
  firsts = [len(batch['tokens'][r][batch['segment_ids'][r] == 1])
            for r in range(stats.rows)]
  assert all(fill[r] + firsts[r + 1] > seq_len for r in range(stats.rows - 1))


def test_pack_small_cases():
  batch = pipeline.pack([([5, 6, 7], [0, 1, 1]), ([8, 9], [1, 1]),
                         ([4], [1])], 6, pad_id=-1)
  np.testing.assert_array_equal(batch['tokens'], [[5, 6, 7, 8, 9, 4]])
  np.testing.assert_array_equal(batch['segment_ids'], [[1, 1, 1, 2, 2, 3]])
  np.testing.assert_array_equal(batch['positions'], [[0, 1, 2, 0, 1, 0]])
  np.testing.assert_array_equal(batch['loss_mask'], [[1, 1, 0, 1, 0, 0]])
  batch = pipeline.pack([([5, 6, 7], [1, 1, 1]), ([8, 9], [1, 1])], 4)
  np.testing.assert_array_equal(batch['tokens'], [[5, 6, 7, 0], [8, 9, 0, 0]])
  np.testing.assert_array_equal(batch['loss_mask'], [[1, 1, 0, 0],
                                                     [1, 0, 0, 0]])


def test_sft_data_resumes_reshuffles_and_covers_every_example():
  examples = _examples(60, seed=1)
  kw = dict(seq_len=16, batch_size=4, seed=3)
  data = pipeline.SftData(examples, **kw)
  per = data.num_batches_per_epoch
  assert data.rows_per_epoch == per * 4 and per >= 2
  epochs = []
  for e in range(3):
    batches = [data.batch(e * per + i) for i in range(per)]
    docs = [d for b in batches for d in _documents(b)]
    assert sorted(docs) == sorted(ids for ids, _ in examples)
    epochs.append(docs)
  assert epochs[0] != epochs[1] != epochs[2]
  # A fresh instance (a resumed run) gives the same batches at any step.
  resumed = pipeline.SftData(examples, **kw)
  for step in (2 * per + 1, 0, per - 1):
    b1, b2 = data.batch(step), resumed.batch(step)
    for k in pipeline.KEYS:
      np.testing.assert_array_equal(b1[k], b2[k])
  other = pipeline.SftData(examples, **{**kw, 'seed': 4})
  assert _documents(other.batch(0)) != _documents(data.batch(0))
  fixed = pipeline.SftData(examples, **kw, shuffle=False)
  assert _documents(fixed.batch(0)) == _documents(fixed.batch(
      fixed.num_batches_per_epoch))


def test_sft_data_tight_budget_still_covers_every_epoch():
  # batch_size=1 leaves no spare rows, so some epochs must reshuffle to fit.
  # (Here 3 of the 8 epochs' first orders pack into too many rows.)
  examples = _examples(30, seed=3)
  data = pipeline.SftData(examples, seq_len=16, batch_size=1, seed=1)
  per = data.num_batches_per_epoch
  for e in range(8):
    docs = [d for i in range(per) for d in _documents(data.batch(e * per + i))]
    assert sorted(docs) == sorted(ids for ids, _ in examples)


def test_sft_data_errors():
  with pytest.raises(ValueError, match='fewer than batch_size=8'):
    pipeline.SftData(_examples(4), seq_len=64, batch_size=8, seed=0)
  with pytest.raises(ValueError, match='equal length'):
    pipeline.pack([([1, 2], [1])], 4)


class _Tok:
  bos_id, eos_id, pad_id = 1, 2, 0

  def encode(self, text, add_bos=False, add_eos=False):
    return [1] * add_bos + [ord(c) for c in text] + [2] * add_eos


def test_encode_sft_and_text():
  (ex,) = pipeline.encode_sft([dict(q='ab', a='c')], _Tok(), prompt_field='q',
                              completion_field='a')
  assert ex == ([1, 97, 98, 99, 2], [0, 0, 0, 1, 1])
  (ex,) = pipeline.encode_text(['xy'], _Tok(), add_bos=False)
  assert ex == ([120, 121, 2], [1, 1, 1])


@pytest.mark.parametrize('mesh_shape', [(2, 2, 2), (1, 1, 1)])
def test_to_global_and_host_slice(mesh_shape):
  devices = jax.devices()[:int(np.prod(mesh_shape))]
  mesh = sharding.make_mesh(mesh_shape, devices)
  data = pipeline.SftData(_examples(60), seq_len=16, batch_size=8, seed=0)
  batch = data.batch(1)
  parts = [pipeline.host_slice(batch, i, 2) for i in range(2)]
  for k in pipeline.KEYS:
    assert parts[0][k].shape == (4, 16)
    np.testing.assert_array_equal(
        np.concatenate([p[k] for p in parts]), batch[k])
  arrays = pipeline.to_global(batch, mesh)
  spec = P(('data', 'fsdp'), None) if len(devices) > 1 else P(None, None)
  for k in pipeline.KEYS:
    assert arrays[k].sharding.spec == spec
    assert arrays[k].dtype == np.int32
    np.testing.assert_array_equal(np.asarray(arrays[k]), batch[k])
    for shard in arrays[k].addressable_shards:
      np.testing.assert_array_equal(shard.data, batch[k][shard.index])
  if len(devices) > 1:
    assert arrays['tokens'].addressable_shards[0].data.shape == (2, 16)
  with pytest.raises(ValueError, match='do not split'):
    pipeline.host_slice(batch, 0, 3)
