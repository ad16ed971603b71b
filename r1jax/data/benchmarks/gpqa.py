"""GPQA Diamond from `gpqa_diamond.csv` (Idavidrein/gpqa, or simple-evals').

The CSV has 78 columns (`Pre-Revision Question`, ..., `Question`, `Correct
Answer`, `Incorrect Answer 1-3`, `Explanation`, ..., `Subdomain`, ...,
`Record ID`, `High-level domain`, ..., `Canary String`); 198 rows, one
`Record ID` each. The four choices are shuffled before the prompt is built:

- `shuffle='per_question'` (default): question q shows permutation
  PERMS[sha256(f'{seed}|{key}') mod 24], key = its `Record ID` (else its
  question text). The permutation is a function of the question alone, so it
  survives reordering or subsetting the file and is identical on every
  machine and Python version.
- `shuffle='simple_evals'`: simple-evals' `gpqa_eval.py` exactly: rows
  (optionally `num_examples` of them drawn first) repeated `n_repeats` times,
  one `random.Random(seed).sample(range(4), 4)` per row in file order, texts
  not stripped. Depends on the row order, as simple-evals does.

`prompt` is simple-evals' multiple-choice prompt; `answer` the letter of the
correct choice.
"""
import hashlib
import itertools
import random
from typing import Any

from r1jax.data import templates
from r1jax.data.benchmarks import tables

REQUIRED = ('Question', 'Correct Answer', 'Incorrect Answer 1',
            'Incorrect Answer 2', 'Incorrect Answer 3')
# The 24 orders of [correct, incorrect 1, incorrect 2, incorrect 3], in
# lexicographic order (itertools' documented order: stable forever).
PERMS = tuple(itertools.permutations(range(4)))
SHUFFLES = ('per_question', 'simple_evals')


def question_key(row: dict[str, Any]) -> str:
  """What a question's permutation is keyed on: its Record ID, else its
  text."""
  rid = str(row.get('Record ID') or '').strip()
  return f'record:{rid}' if rid else f'question:{row["Question"].strip()}'


def permutation(seed: int, key: str, repeat: int = 0) -> tuple[int, ...]:
  """The seeded permutation of question `key` (`repeat` > 0 for further
  copies of it): entry i is the index into [correct, incorrect 1-3] shown
  as choice i."""
  material = f'{seed}|{key}' + (f'|{repeat}' if repeat else '')
  digest = hashlib.sha256(material.encode('utf-8')).digest()
  return PERMS[int.from_bytes(digest[:8], 'big') % len(PERMS)]


def _record(r, perm, repeat, n_repeats, strip: bool) -> dict[str, Any]:
  clean = (lambda s: str(s).strip()) if strip else str
  base = [clean(r[c]) for c in REQUIRED[1:]]
  choices = [base[p] for p in perm]
  question = clean(r['Question'])
  rid = str(r.get('Record ID') or '').strip()
  key = rid or hashlib.sha256(r['Question'].strip().encode()).hexdigest()[:16]
  return dict(
      id=f'gpqa_diamond/{key}' + (f'/r{repeat}' if n_repeats > 1 else ''),
      prompt=templates.multichoice_question(question, choices),
      answer='ABCD'[perm.index(0)], answer_type='choice',
      task='gpqa_diamond', question=question, choices=choices,
      permutation=list(perm), correct_answer=base[0], record_id=rid,
      domain=r.get('High-level domain') or '',
      subdomain=r.get('Subdomain') or '', repeat=repeat)


def load_gpqa_diamond(path, seed: int = 0, n_repeats: int = 1,
                      shuffle: str = 'per_question',
                      num_examples: int | None = None
                      ) -> list[dict[str, Any]]:
  """GPQA Diamond records with shuffled choices (see the module doc).

  `n_repeats` copies of each question (ids end in /r<k>); `num_examples`
  draws that many rows first, only with shuffle='simple_evals' (as
  simple-evals does, n_repeats must then be 1).
  """
  if shuffle not in SHUFFLES:
    raise ValueError(f'shuffle={shuffle!r}; expected one of {SHUFFLES}')
  if n_repeats < 1:
    raise ValueError(f'n_repeats={n_repeats} must be >= 1')
  files = tables.resolve_files(path)
  rows = []
  for f, n, r in tables.iter_rows(files):
    tables.require(r, REQUIRED, f, n)
    rows.append(r)
  out = []
  if shuffle == 'simple_evals':
    rng = random.Random(seed)
    if num_examples:
      if n_repeats != 1:
        raise ValueError('num_examples needs n_repeats=1 (as simple-evals)')
      rows = rng.sample(rows, num_examples)
    for k in range(n_repeats):
      for r in rows:
        out.append(_record(r, tuple(rng.sample(range(4), 4)), k, n_repeats,
                           strip=False))
    tables.check_unique_ids(out, str(path))
    return out
  if num_examples:
    raise ValueError("num_examples is simple-evals' row draw: use "
                     "shuffle='simple_evals', or subset the records")
  for r in rows:
    key = question_key(r)
    for k in range(n_repeats):
      out.append(_record(r, permutation(seed, key, k), k, n_repeats,
                         strip=True))
  tables.check_unique_ids(out, str(path))
  return out
