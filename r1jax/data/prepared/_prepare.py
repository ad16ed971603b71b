"""Prepare once: records (JSONL / Parquet) -> tokenized, sharded files.

Record g of the inputs (in file order) goes to shard g // records_per_shard,
so the layout does not depend on the number of workers or processes.
Process p of P tokenizes shards s with s % P == p, on `workers` processes;
shards already written are skipped (resume). Kinds:
  sft   {prompt, completion}: loss on the completion (+EOS), as encode_sft
  chat  HF chat `messages` [{role, content}, ...]: rendered with the
        tokenizer's chat template; loss on the last (assistant) message
  text  plain documents: loss on every token, as encode_text
"""
from __future__ import annotations

import collections
import json
import multiprocessing
import os
import time
from typing import Any, Iterator, Sequence

from absl import logging

from r1jax import tokenizers
from r1jax.data import pipeline
from r1jax.data.prepared import _format as fmt

KINDS = ('sft', 'chat', 'text')
_TOKENIZERS: dict[str, tokenizers.Tokenizer] = {}


def _tokenizer(path: str) -> tokenizers.Tokenizer:
  if path not in _TOKENIZERS:  # once per worker process
    _TOKENIZERS[path] = tokenizers.load(path)
  return _TOKENIZERS[path]


def read_records(paths: Sequence[str], columns: Sequence[str]
                 ) -> Iterator[tuple[str, int, Any]]:
  """(path, record number, record) of JSONL lines (unparsed: the workers
  parse them) and Parquet rows (only `columns` are read)."""
  for path in paths:
    if path.endswith('.parquet'):
      import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
      f = pq.ParquetFile(path)
      missing = [c for c in columns if c not in f.schema_arrow.names]
      if missing:
        raise ValueError(f'{path}: no column(s) {missing}; it has '
                         f'{f.schema_arrow.names}')
      n = 0
      for batch in f.iter_batches(batch_size=1024, columns=list(columns)):
        for r in batch.to_pylist():
          n += 1
          yield path, n, r
    else:
      with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
          if line.strip():
            yield path, n, line


def encode_chat(records, tok: tokenizers.Tokenizer, *,
                messages_field: str = 'messages') -> list[pipeline.Example]:
  """(ids, mask): the conversation rendered with the tokenizer's chat
  template; the last message (the assistant's) is the trained target."""
  template = tok.chat_template
  if template is None:
    raise ValueError(f'{getattr(tok, "path", tok)}: kind=chat needs a chat '
                     'template (tokenizer_config.json chat_template)')
  out = []
  for r in records:
    msgs = r[messages_field]
    if not msgs or msgs[-1].get('role') != 'assistant':
      raise ValueError(f'{messages_field}: the last message must be the '
                       f'assistant\'s, got {[m.get("role") for m in msgs]}')
    prompt = template.render(msgs[:-1], add_generation_prompt=True)
    full = template.render(msgs, add_generation_prompt=False)
    content = (msgs[-1].get('content') or '').strip()
    if not full.startswith(prompt) or content not in full[len(prompt):]:
      # e.g. R1-Distill templates drop the text before </think>.
      raise ValueError(f'{template.source}: rendering the conversation does '
                       'not keep the prompt and the assistant message '
                       'verbatim; use a template that does')
    p = tokenizers.encode_prompt(tok, prompt)
    c = tok.encode(full[len(prompt):])
    out.append((p + c, [0] * len(p) + [1] * len(c)))
  return out


def _encode(spec: dict, items: list) -> list[pipeline.Example]:
  tok, f = _tokenizer(spec['tokenizer']), spec['fields']
  records = []
  for path, n, r in items:
    try:
      r = json.loads(r) if isinstance(r, str) else r
    except json.JSONDecodeError as e:
      raise ValueError(f'{path}:{n}: invalid JSON ({e.msg})') from e
    missing = [k for k in f.values() if k not in r]
    if missing:
      raise ValueError(f'{path}: record {n} has no field(s) {missing} '
                       f'(kind={spec["kind"]}, fields {f})')
    records.append(r)
  kw = dict(add_bos=spec['add_bos'])
  if spec['kind'] == 'sft':
    return pipeline.encode_sft(records, tok, prompt_field=f['prompt'],
                               completion_field=f['completion'],
                               add_eos=spec['add_eos'], **kw)
  if spec['kind'] == 'text':
    return pipeline.encode_text([r[f['text']] for r in records], tok,
                                add_eos=spec['add_eos'], **kw)
  return encode_chat(records, tok, messages_field=f['messages'])


def _shard_job(args) -> tuple[int, dict]:
  spec, shard, items = args
  examples = _encode(spec, items)
  return shard, fmt.write_shard(spec['out_dir'], shard, examples, len(items))


def _init_dir(out_dir: str, meta: dict, tok) -> None:
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, fmt.METADATA)
  if os.path.exists(path):
    old = fmt.read_metadata(out_dir)
    fmt.check_tokenizer(old['tokenizer'], meta['tokenizer'],
                        f'appending to {out_dir}')
    changed = [k for k in fmt.SETTINGS if old.get(k) != meta.get(k)]
    if changed:
      raise ValueError(f'{out_dir} was prepared with other settings ' +
                       ', '.join(f'{k}: {old.get(k)!r} -> {meta.get(k)!r}'
                                 for k in changed) + '; use a new directory')
    return
  fmt.write_json(path, meta)
  tok_dir = os.path.join(out_dir, fmt.TOKENIZER_DIR)
  try:
    tok.save(tok_dir)  # what the sft stage loads when none is configured
  except NotImplementedError:
    pass


def prepare(inputs: Sequence[str], out_dir: str, tokenizer: str, *,
            kind: str = 'sft', fields: dict[str, str] | None = None,
            records_per_shard: int = 10000, workers: int = 1,
            process_index: int = 0, process_count: int = 1,
            add_bos: bool | None = None, add_eos: bool = True) -> dict:
  """Tokenizes `inputs` into `out_dir` (module doc); returns the metadata
  (with `num_shards`, `examples`, `tokens` once every shard is written)."""
  if kind not in KINDS:
    raise ValueError(f'kind={kind!r}; expected one of {KINDS}')
  default = {'sft': {'prompt': 'prompt', 'completion': 'completion'},
             'chat': {'messages': 'messages'}, 'text': {'text': 'text'}}
  fields = dict(fields or default[kind])
  if set(fields) != set(default[kind]):
    raise ValueError(f'kind={kind}: fields {sorted(fields)}, expected '
                     f'{sorted(default[kind])}')
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index={process_index} not in [0, '
                     f'{process_count})')
  tok = tokenizers.load(tokenizer)
  template = (tok.chat_template.template if kind == 'chat' and
              tok.chat_template else None)
  meta = {'format': fmt.FORMAT, 'kind': kind, 'fields': fields,
          'template': template, 'add_bos': add_bos, 'add_eos': add_eos,
          'records_per_shard': records_per_shard,
          'inputs': [os.path.abspath(p) for p in inputs],
          'tokenizer': fmt.tokenizer_identity(tok)}
  _init_dir(out_dir, meta, tok)
  spec = {'tokenizer': tokenizer, 'kind': kind, 'fields': fields,
          'add_bos': add_bos, 'add_eos': add_eos, 'out_dir': out_dir}
  t0, done, skipped = time.perf_counter(), collections.Counter(), 0

  def jobs():
    items, shard = [], 0
    for item in read_records(inputs, list(fields.values())):
      items.append(item)
      if len(items) == records_per_shard:
        yield shard, items
        items, shard = [], shard + 1
    if items:
      yield shard, items

  def report(shard, stats):
    done.update(shards=1, tokens=stats['tokens'])
    logging.info('shard %d written: %d examples, %d tokens; %d shards, '
                 '%.2fM tokens/s', shard, stats['examples'], stats['tokens'],
                 done['shards'], done['tokens'] / 1e6 /
                 max(time.perf_counter() - t0, 1e-9))

  num_shards = 0
  pool = multiprocessing.get_context('spawn').Pool(workers) \
      if workers > 1 else None
  try:
    pending = collections.deque()
    for shard, items in jobs():
      num_shards = shard + 1
      if shard % process_count != process_index:
        continue
      if fmt.shard_done(out_dir, shard) is not None:
        skipped += 1
        continue
      if pool is None:
        report(*_shard_job((spec, shard, items)))
        continue
      pending.append(pool.apply_async(_shard_job, ((spec, shard, items),)))
      while len(pending) >= 2 * workers:  # bounds the records in memory
        report(*pending.popleft().get())
    while pending:
      report(*pending.popleft().get())
  finally:
    if pool is not None:
      pool.terminate()
  if skipped:
    logging.info('%d shards were already written (skipped)', skipped)
  stats = [fmt.shard_done(out_dir, s) for s in range(num_shards)]
  if all(s is not None for s in stats):  # the last process to finish
    meta.update(num_shards=num_shards,
                records=sum(s['records'] for s in stats),
                examples=sum(s['examples'] for s in stats),
                tokens=sum(s['tokens'] for s in stats))
    fmt.write_json(os.path.join(out_dir, fmt.METADATA), meta)
  logging.info('prepared %s: %s', out_dir, {k: meta.get(k) for k in (
      'num_shards', 'examples', 'tokens')})
  return meta
