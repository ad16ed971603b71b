"""Reading benchmark files as published: JSONL, JSON, CSV or Parquet.

A benchmark `path` is one file, a directory (its table files, in sorted
order; a Hub snapshot's `data/` folder when the top level has none), or a
list of either (e.g. AIME 2025 I and II as two files). Errors name the file,
the row and what is missing.
"""
import csv
import json
import os
from typing import Any, Iterable, Iterator, Sequence

from r1jax.data import jsonl

TABLE_EXTENSIONS = ('.jsonl', '.json', '.csv', '.parquet')
_LFS_POINTER = b'version https://git-lfs.github.com/spec/'

Row = dict[str, Any]


def check_not_lfs_pointer(path: str) -> None:
  """Raises if `path` is a Git LFS pointer (a clone without `git lfs pull`,
  as openai/prm800k's math_splits/test.jsonl is in the repository)."""
  with open(path, 'rb') as f:
    head = f.read(len(_LFS_POINTER))
  if head == _LFS_POINTER:
    raise ValueError(
        f'{path} is a Git LFS pointer, not the data: run `git lfs pull` in '
        'its clone, or download the file itself (the Hub\'s "resolve" URL)')


def iter_table(path: str | os.PathLike) -> Iterator[Row]:
  """Rows of one .jsonl, .json (an array or JSON lines), .csv or .parquet
  file, as Python values (CSV cells stay strings). JSON lines stream, so a
  1 GB LiveCodeBench file is never held whole."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such file')
  check_not_lfs_pointer(path)
  if path.endswith('.csv'):
    with open(path, newline='', encoding='utf-8') as f:
      yield from csv.DictReader(f)
    return
  if path.endswith('.parquet'):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
      yield from batch.to_pylist()
    return
  if path.endswith('.json'):
    with open(path, encoding='utf-8') as f:
      is_array = f.read(4096).lstrip().startswith('[')
    if is_array:
      with open(path, encoding='utf-8') as f:
        try:
          data = json.load(f)
        except json.JSONDecodeError as e:
          raise ValueError(f'{path}: invalid JSON ({e})') from None
      bad = [i for i, r in enumerate(data) if not isinstance(r, dict)]
      if bad:
        raise ValueError(f'{path}: item {bad[0]} of the array is not an '
                         'object')
      yield from data
      return
  yield from jsonl.read_jsonl(path)


def read_table(path: str | os.PathLike) -> list[Row]:
  """All rows of one table file (see `iter_table`)."""
  return list(iter_table(path))


def _table_files(directory: str) -> list[str]:
  return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                if n.endswith(TABLE_EXTENSIONS)
                and os.path.isfile(os.path.join(directory, n)))


def resolve_files(path) -> list[str]:
  """The files `path` names: a file, a directory or a list of these."""
  if isinstance(path, (list, tuple)):
    if not path:
      raise ValueError('empty list of benchmark files')
    return [f for p in path for f in resolve_files(p)]
  path = os.fspath(path)
  if os.path.isdir(path):
    files = _table_files(path)
    data = os.path.join(path, 'data')
    if not files and os.path.isdir(data):
      files = _table_files(data)
    if not files:
      raise FileNotFoundError(
          f'{path}: no {"/".join(TABLE_EXTENSIONS)} file in it (or in its '
          'data/ folder)')
    return files
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such file or directory')
  return [path]


def iter_rows(files: Iterable[str]) -> Iterator[tuple[str, int, Row]]:
  """(file, 1-based row number, row) over `files` in order."""
  for f in files:
    for n, row in enumerate(iter_table(f), 1):
      yield f, n, row


def require(row: Row, columns: Sequence[str], file: str, n: int) -> None:
  """Raises naming the file, the row and the columns `row` lacks."""
  missing = [c for c in columns if c not in row]
  if missing:
    raise ValueError(f'{file}: row {n} lacks column(s) {missing}; it has '
                     f'{sorted(row)}')


def pick(row: Row, names: Sequence[str], file: str, n: int) -> Any:
  """The value of the first of `names` present in `row` (column aliases
  such as problem|question); raises naming the file if none is."""
  for name in names:
    if name in row:
      return row[name]
  raise ValueError(f'{file}: row {n} has none of the columns '
                   f'{" | ".join(names)}; it has {sorted(row)}')


def stem(file: str) -> str:
  """File name without its table extension ('aime2025-I')."""
  base = os.path.basename(file)
  for ext in TABLE_EXTENSIONS:
    if base.endswith(ext):
      return base[:-len(ext)]
  return base


def check_unique_ids(records: Sequence[Row], what: str) -> None:
  """Raises if two records share an `id`."""
  seen, dups = set(), []
  for r in records:
    if r['id'] in seen:
      dups.append(r['id'])
    seen.add(r['id'])
  if dups:
    raise ValueError(f'{what}: duplicate ids {sorted(set(dups))[:10]}')
