"""GSM8K, MATH-500, AIME 2024 and AIME 2025 in their published layouts.

`prompt` is the problem text alone; the evaluation suffix ("Please reason
step by step ...") is added by the caller (`BenchmarkSpec.question`).
"""
import re
from typing import Any

from r1jax.data.benchmarks import tables


def gsm8k_answer(solution: str) -> str:
  """The number after '####' in a GSM8K solution, commas removed."""
  m = re.search(r'####\s*(.+?)\s*$', solution.strip())
  if m is None:
    raise ValueError(f'GSM8K answer without ####: {solution[-80:]!r}')
  return m.group(1).replace(',', '')


def _key(files: list[str], file: str, key: Any) -> str:
  """A row key, prefixed by the file's stem when several files are read
  (AIME I and II both number from 0)."""
  return f'{tables.stem(file)}/{key}' if len(files) > 1 else str(key)


def _answer_text(value: Any) -> str:
  """An answer as text: 70.0 -> '70' (some copies store floats)."""
  if isinstance(value, float) and value.is_integer():
    value = int(value)
  return str(value).strip()


def load_gsm8k(path) -> list[dict[str, Any]]:
  """openai/gsm8k (`main/test-00000-of-00001.parquet`) or
  openai/grade-school-math `test.jsonl`: `question`, `answer` ending in
  '#### N'."""
  files = tables.resolve_files(path)
  out = []
  for i, (f, n, r) in enumerate(tables.iter_rows(files)):
    tables.require(r, ('question', 'answer'), f, n)
    try:
      answer = gsm8k_answer(r['answer'])
    except ValueError as e:
      raise ValueError(f'{f}: row {n}: {e}') from None
    out.append(dict(id=f'gsm8k/{i}', prompt=r['question'], answer=answer,
                    answer_type='math', task='gsm8k', solution=r['answer']))
  tables.check_unique_ids(out, str(path))
  return out


def load_math500(path) -> list[dict[str, Any]]:
  """HuggingFaceH4/MATH-500 `test.jsonl` or openai/prm800k
  `prm800k/math_splits/test.jsonl` (`problem`, `solution`, `answer`,
  `subject`, `level`, `unique_id`); simple-evals' math_500_test.csv
  (`Question`, `Answer`) also reads."""
  files = tables.resolve_files(path)
  out = []
  for i, (f, n, r) in enumerate(tables.iter_rows(files)):
    level = r.get('level') or 0
    out.append(dict(
        id=r.get('unique_id') or f'math500/{i}',
        prompt=tables.pick(r, ('problem', 'Question'), f, n),
        answer=_answer_text(tables.pick(r, ('answer', 'Answer'), f, n)),
        answer_type='math', task='math500',
        solution=r.get('solution') or '', subject=r.get('subject') or '',
        level=int(str(level).removeprefix('Level ').strip() or 0)))
  tables.check_unique_ids(out, str(path))
  return out


def _load_aime(path, task: str) -> list[dict[str, Any]]:
  files = tables.resolve_files(path)
  out = []
  index: dict[str, int] = {}
  for f, n, r in tables.iter_rows(files):
    i = index[f] = index.get(f, -1) + 1
    rid = next((r[k] for k in ('id', 'problem_idx', 'ID')
                if r.get(k) not in (None, '')), i)
    out.append(dict(
        id=f'{task}/{_key(files, f, rid)}',
        prompt=tables.pick(r, ('problem', 'question', 'Problem'), f, n),
        answer=_answer_text(tables.pick(r, ('answer', 'Answer'), f, n)),
        answer_type='math', task=task,
        solution=r.get('solution') or r.get('Solution') or '',
        source=tables.stem(f)))
  tables.check_unique_ids(out, str(path))
  return out


def load_aime2024(path) -> list[dict[str, Any]]:
  """HuggingFaceH4/aime_2024 split train (`id`, `problem`, `solution`,
  `answer`, `url`, `year`), as Parquet, JSONL or CSV."""
  return _load_aime(path, 'aime2024')


def load_aime2025(path) -> list[dict[str, Any]]:
  """AIME 2025 I and II from the common Hub copies: opencompass/AIME2025
  (`aime2025-I.jsonl` + `aime2025-II.jsonl`: `question`, `answer`; pass the
  directory or both files), math-ai/aime25 (`test.jsonl`: `problem`,
  `answer`, `id`), yentinglin/aime_2025 (Parquet under `data/`, split
  train: `id`, `problem`, `answer`, ...) or MathArena/aime_2025 (Parquet,
  split train: `problem_idx`, `problem`, `answer` int). Ids carry the file
  stem when several files are read, so they stay unique across I and II."""
  return _load_aime(path, 'aime2025')
