"""Benchmark loaders that read files the user placed (no download here).

Every loader returns examples in the common form (`id`, `prompt`, `answer`,
`answer_type`, `task`, ...), ready for templates and rewards. Where to get
the files (on a machine with internet access):
- GSM8K: TFDS `gsm8k` (downloads itself), or openai/grade-school-math
  `grade_school_math/data/test.jsonl` (`question`, `answer` ending in
  '#### N').
- MATH-500: HuggingFaceH4/MATH-500 `test.jsonl` or openai/prm800k
  `prm800k/math_splits/test.jsonl` (`problem`, `solution`, `answer`,
  `subject`, `level`, `unique_id`).
- AIME 2024: HuggingFaceH4/aime_2024 split `train`, saved as JSONL, CSV or
  Parquet (`id`, `problem`, `solution`, `answer`, `url`, `year`).
- GPQA Diamond (gated; accept the terms on its page): Idavidrein/gpqa
  `gpqa_diamond.csv` (`Question`, `Correct Answer`, `Incorrect Answer 1-3`).
"""
import csv
import os
import random
import re
from typing import Any

from r1jax.data import jsonl
from r1jax.data import templates


def read_table(path: str) -> list[dict[str, Any]]:
  """Rows of a .jsonl/.json-lines, .csv or .parquet file."""
  path = os.fspath(path)
  if path.endswith('.csv'):
    with open(path, newline='', encoding='utf-8') as f:
      return list(csv.DictReader(f))
  if path.endswith('.parquet'):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    return pq.read_table(path).to_pylist()
  return list(jsonl.read_jsonl(path))


def gsm8k_answer(solution: str) -> str:
  """The number after '####' in a GSM8K solution, commas removed."""
  m = re.search(r'####\s*(.+?)\s*$', solution.strip())
  if m is None:
    raise ValueError(f'GSM8K answer without ####: {solution[-80:]!r}')
  return m.group(1).replace(',', '')


def load_gsm8k(path: str) -> list[dict[str, Any]]:
  return [dict(id=f'gsm8k/{i}', prompt=r['question'],
               answer=gsm8k_answer(r['answer']), answer_type='math',
               task='gsm8k', solution=r['answer'])
          for i, r in enumerate(read_table(path))]


def load_math500(path: str) -> list[dict[str, Any]]:
  return [dict(id=r.get('unique_id') or f'math500/{i}', prompt=r['problem'],
               answer=str(r['answer']), answer_type='math', task='math500',
               solution=r.get('solution', ''),
               subject=r.get('subject', ''), level=int(r.get('level') or 0))
          for i, r in enumerate(read_table(path))]


def load_aime2024(path: str) -> list[dict[str, Any]]:
  return [dict(id=f"aime2024/{r.get('id', i)}", prompt=r['problem'],
               answer=str(r['answer']).strip(), answer_type='math',
               task='aime2024', solution=r.get('solution', ''))
          for i, r in enumerate(read_table(path))]


def load_gpqa_diamond(path: str, seed: int = 0,
                      n_repeats: int = 1) -> list[dict[str, Any]]:
  """GPQA Diamond with choices shuffled as simple-evals does.

  simple-evals repeats the rows `n_repeats` times and draws one
  permutation per row from `random.Random(seed)`; `prompt` is its
  multiple-choice prompt and `answer` the correct letter.
  """
  rows = read_table(path) * n_repeats
  rng = random.Random(seed)
  out = []
  for i, r in enumerate(rows):
    perm = rng.sample(range(4), 4)
    base = [r['Correct Answer'], r['Incorrect Answer 1'],
            r['Incorrect Answer 2'], r['Incorrect Answer 3']]
    choices = [base[p].strip() for p in perm]
    letter = 'ABCD'[choices.index(base[0].strip())]
    out.append(dict(
        id=f'gpqa_diamond/{i}', answer=letter, answer_type='choice',
        task='gpqa_diamond', question=r['Question'].strip(),
        choices=choices,
        prompt=templates.multichoice_question(r['Question'].strip(),
                                              choices)))
  return out


LOADERS = dict(gsm8k=load_gsm8k, math500=load_math500,
               aime2024=load_aime2024, gpqa_diamond=load_gpqa_diamond)


def load(name: str, path: str) -> list[dict[str, Any]]:
  """Loads benchmark `name` (a key of LOADERS) from `path`."""
  if name not in LOADERS:
    raise ValueError(f'unknown benchmark {name!r}; expected {sorted(LOADERS)}')
  return LOADERS[name](path)
