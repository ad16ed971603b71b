"""On-disk layout of a prepared dataset, and the tokenizer's identity.

A prepared directory holds `metadata.json` and shards `shard-NNNNN.*`:
  .tokens       int32 token ids of the shard's examples, concatenated (raw)
  .mask         uint8 loss masks, aligned with .tokens (raw)
  .offsets.npy  int64 [examples + 1]: example i is tokens[o[i]:o[i + 1]]
  .json         {"records", "examples", "tokens"}; written last, so a shard
                whose .json exists is complete (resume skips it).
Raw files are read with `os.pread` at an example's offset: no memory map,
so a reader's resident memory does not grow with the pages it has touched.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

FORMAT = 'r1jax-prepared-v1'
METADATA = 'metadata.json'
TOKENIZER_DIR = 'tokenizer'
TOKEN_DTYPE, MASK_DTYPE = np.dtype('<i4'), np.dtype('u1')
# Metadata fields that a resumed (or appended) preparation must not change.
SETTINGS = ('format', 'kind', 'fields', 'template', 'add_bos', 'add_eos',
            'records_per_shard', 'inputs')
# Fields of the tokenizer identity compared between data and model.
IDENTITY = ('sha256', 'vocab_size', 'bos_id', 'eos_id')


def shard_path(directory: str, shard: int, suffix: str) -> str:
  return os.path.join(directory, f'shard-{shard:05d}.{suffix}')


def tokenizer_identity(tok) -> dict[str, Any]:
  """sha256 of the tokenizer's vocabulary file (SentencePiece .model or
  tokenizer.json), vocab size and special ids; `path` is for messages. The
  chat template is recorded (and compared) on its own."""
  path = getattr(tok, 'path', None)
  if path:
    with open(path, 'rb') as f:
      digest = hashlib.sha256(f.read()).hexdigest()
  else:  # a tokenizer built in memory: its pieces
    digest = hashlib.sha256('\0'.join(tok.token_texts()).encode()).hexdigest()
  return {'sha256': digest, 'vocab_size': int(tok.vocab_size),
          'bos_id': tok.bos_id, 'eos_id': tok.eos_id, 'pad_id': tok.pad_id,
          'path': path}


def _describe(ident: dict) -> str:
  return (f"{ident.get('path')} (sha256 {ident['sha256'][:12]}, vocab "
          f"{ident['vocab_size']}, bos {ident['bos_id']}, eos "
          f"{ident['eos_id']})")


def check_tokenizer(data: dict, model: dict, what: str) -> None:
  """ValueError naming both tokenizers unless they are the same."""
  if any(data.get(k) != model.get(k) for k in IDENTITY):
    raise ValueError(f'{what}: tokenizer mismatch: the data was prepared '
                     f'with {_describe(data)}, but {_describe(model)} is in '
                     'use; prepare the data again with that tokenizer')


def read_metadata(directory: str) -> dict[str, Any]:
  path = os.path.join(directory, METADATA)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{directory}: no {METADATA}; not a prepared '
                            'dataset (experiments/prepare_sft.py writes one)')
  with open(path, encoding='utf-8') as f:
    meta = json.load(f)
  if meta.get('format') != FORMAT:
    raise ValueError(f'{path}: format {meta.get("format")!r}, expected '
                     f'{FORMAT!r}')
  return meta


def write_json(path: str, value: Any) -> None:
  """Atomic write: readers never see half a file (the temporary name is
  per process: machines preparing one directory may write it together)."""
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
  os.replace(tmp, path)


def shard_done(directory: str, shard: int) -> dict | None:
  path = shard_path(directory, shard, 'json')
  if not os.path.exists(path):
    return None
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def write_shard(directory: str, shard: int, examples, records: int) -> dict:
  """Writes one shard of (ids, mask) examples; returns its .json stats."""
  lengths = np.array([len(ids) for ids, _ in examples], np.int64)
  offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
  flat = lambda xs, dt: (np.concatenate([np.asarray(x, dt) for x in xs])  # noqa: E731
                         if len(xs) else np.zeros(0, dt))
  ids = flat([e[0] for e in examples], TOKEN_DTYPE)
  mask = flat([e[1] for e in examples], MASK_DTYPE)
  for suffix, arr in (('tokens', ids), ('mask', mask)):
    tmp = shard_path(directory, shard, suffix) + '.tmp'
    arr.tofile(tmp)
    os.replace(tmp, shard_path(directory, shard, suffix))
  tmp = shard_path(directory, shard, 'offsets.tmp.npy')
  np.save(tmp, offsets)
  os.replace(tmp, shard_path(directory, shard, 'offsets.npy'))
  stats = {'records': records, 'examples': len(examples),
           'tokens': int(offsets[-1])}
  write_json(shard_path(directory, shard, 'json'), stats)
  return stats
