"""JSONL files: SFT/distillation traces and RL prompts.

- SFT / distillation: one `{"prompt": ..., "completion": ...}` per line
  (what the `generate` stage writes after rejection sampling).
- RL prompts: one `{"prompt": ..., "answer": ..., ...}` per line; other
  keys (`task`, `answer_type`, `lang`, `id`, ...) are kept as metadata and
  reach the rewards.
"""
import json
import os
from typing import Any, Iterable, Iterator, Sequence


def read_jsonl(path: str) -> Iterator[dict[str, Any]]:
  """Yields one dict per non-blank line; errors name the file and line."""
  with open(os.fspath(path), encoding='utf-8') as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}:{n}: invalid JSON ({e.msg})') from e
      if not isinstance(record, dict):
        raise ValueError(f'{path}:{n}: expected a JSON object')
      yield record


def write_jsonl(path: str, records: Iterable[dict[str, Any]]) -> int:
  """Writes records (UTF-8, one per line); returns how many."""
  n = 0
  with open(os.fspath(path), 'w', encoding='utf-8') as f:
    for r in records:
      f.write(json.dumps(r, ensure_ascii=False) + '\n')
      n += 1
  return n


def _load(path: str, required: Sequence[str]) -> list[dict[str, Any]]:
  out = []
  for n, r in enumerate(read_jsonl(path), 1):
    missing = [k for k in required if not isinstance(r.get(k), str)]
    if missing:
      raise ValueError(f'{path}: record {n} lacks string field(s) {missing}')
    out.append(r)
  return out


def load_sft(path: str) -> list[dict[str, Any]]:
  """SFT records with string `prompt` and `completion`."""
  return _load(path, ('prompt', 'completion'))


def load_rl(path: str) -> list[dict[str, Any]]:
  """RL prompts with string `prompt` and `answer` (plus metadata)."""
  records = _load(path, ('prompt', 'answer'))
  for i, r in enumerate(records):
    r.setdefault('id', f'{os.path.basename(path)}/{i}')
  return records
