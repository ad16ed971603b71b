"""GPQA Diamond's loader on its published CSV header and Parquet layout:
per-question shuffles and simple-evals' stream."""
import csv
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax.data import benchmarks
from r1jax.data import templates
from r1jax.data.benchmarks import gpqa
from tests.data import benchmark_rows as bf


# ------------------------------------------------------------------- GPQA


def _gpqa_header():
  with open(bf.GPQA_CSV, newline='', encoding='utf-8') as f:
    return next(csv.reader(f))


def _write_gpqa(path, rows, header=None):
  header = header or _gpqa_header()
  with open(path, 'w', newline='', encoding='utf-8') as f:
    w = csv.DictWriter(f, fieldnames=header, lineterminator='\n')
    w.writeheader()
    for r in rows:
      w.writerow({c: r.get(c, '') for c in header})
  return path


def _synthetic_gpqa(n, record_ids=True):
  return [{'Question': f'Question number {i}?',
           'Correct Answer': f'right{i}', 'Incorrect Answer 1': f'w1_{i}',
           'Incorrect Answer 2': f'w2_{i}', 'Incorrect Answer 3': f'w3_{i}',
           'Record ID': f'recSynthetic{i:05d}' if record_ids else ''}
          for i in range(n)]


def test_gpqa_fixture_has_the_real_header():
  header = _gpqa_header()
  assert len(header) == 78
  assert header[:8] == [
      'Pre-Revision Question', 'Pre-Revision Correct Answer',
      'Pre-Revision Incorrect Answer 1', 'Pre-Revision Incorrect Answer 2',
      'Pre-Revision Incorrect Answer 3', 'Pre-Revision Explanation',
      'Self-reported question-writing time (minutes)', 'Question']
  for c in ('Correct Answer', 'Incorrect Answer 3', 'Explanation',
            'Subdomain', 'Record ID', 'High-level domain', 'Canary String'):
    assert c in header
  assert header.index('Record ID') == 25 and header[-1] == 'Canary String'


def test_gpqa_records_point_at_the_correct_answer():
  exs = benchmarks.load('gpqa_diamond', bf.GPQA_CSV)
  with open(bf.GPQA_CSV, newline='', encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  assert len(exs) == 4
  for ex, row in zip(exs, rows):
    assert ex['id'] == f'gpqa_diamond/{row["Record ID"]}'
    assert ex['answer_type'] == 'choice' and ex['task'] == 'gpqa_diamond'
    letter = ex['answer']
    assert ex['choices']['ABCD'.index(letter)] == row['Correct Answer'].strip()
    assert sorted(ex['choices']) == sorted(row[c].strip()
                                           for c in bf.GPQA_CHOICES)
    assert f'\n{letter}) {row["Correct Answer"].strip()}' in ex['prompt']
    assert ex['prompt'] == templates.multichoice_question(
        row['Question'].strip(), ex['choices'])
    assert ex['domain'] == row['High-level domain']
    assert ex['subdomain'] == row['Subdomain']
  assert exs[0]['choices'][exs[0]['permutation'].index(2)] == 'W boson'


def test_gpqa_pinned_permutations():
  """The per-question shuffle is sha256-defined: pinned so it never moves
  silently."""
  assert len(gpqa.PERMS) == 24 and gpqa.PERMS[0] == (0, 1, 2, 3)
  assert gpqa.permutation(0, 'record:recFixture000000A') == (1, 2, 3, 0)
  assert gpqa.permutation(1, 'record:recFixture000000A') == (2, 3, 1, 0)
  assert gpqa.permutation(0, 'question:Q?') == (2, 1, 3, 0)
  assert gpqa.permutation(0, 'record:recFixture000000A', 1) == (0, 1, 3, 2)


def test_gpqa_shuffle_survives_reordering_and_subsetting(tmp_path):
  rows = _synthetic_gpqa(40)
  full = {e['id']: e for e in benchmarks.load_gpqa_diamond(
      _write_gpqa(tmp_path / 'full.csv', rows))}
  shuffled = rows[::-1][:17]
  part = benchmarks.load_gpqa_diamond(
      _write_gpqa(tmp_path / 'part.csv', shuffled))
  assert len(part) == 17
  for e in part:
    assert e['permutation'] == full[e['id']]['permutation']
    assert e['prompt'] == full[e['id']]['prompt']
  # Keyed on the question text when the Record ID is empty.
  no_ids = _synthetic_gpqa(40, record_ids=False)
  a = benchmarks.load_gpqa_diamond(_write_gpqa(tmp_path / 'a.csv', no_ids))
  b = benchmarks.load_gpqa_diamond(
      _write_gpqa(tmp_path / 'b.csv', no_ids[::-1]))
  assert {e['id']: e['permutation'] for e in a} == {
      e['id']: e['permutation'] for e in b}
  # A different seed gives other permutations.
  other = benchmarks.load_gpqa_diamond(tmp_path / 'full.csv', seed=1)
  assert sum(e['permutation'] != full[e['id']]['permutation']
             for e in other) > 20


def test_gpqa_shuffle_differs_across_questions(tmp_path):
  exs = benchmarks.load_gpqa_diamond(
      _write_gpqa(tmp_path / 'q.csv', _synthetic_gpqa(40)))
  perms = [tuple(e['permutation']) for e in exs]
  assert len(set(perms)) >= 12  # 40 draws from 24: ~19 distinct expected.
  letters = [e['answer'] for e in exs]
  assert all(letters.count(c) >= 3 for c in 'ABCD')
  for e, i in zip(exs, range(40)):
    assert e['choices']['ABCD'.index(e['answer'])] == f'right{i}'


def test_gpqa_repeats_have_their_own_ids_and_permutations(tmp_path):
  path = _write_gpqa(tmp_path / 'q.csv', _synthetic_gpqa(10))
  one = benchmarks.load_gpqa_diamond(path)
  four = benchmarks.load_gpqa_diamond(path, n_repeats=4)
  assert len(four) == 40 and len({e['id'] for e in four}) == 40
  assert four[0]['id'] == one[0]['id'] + '/r0'
  # Repeat 0 is the single run's permutation.
  assert [e['permutation'] for e in four if e['repeat'] == 0] == [
      e['permutation'] for e in one]


def test_gpqa_simple_evals_mode_reproduces_its_stream(tmp_path):
  path = _write_gpqa(tmp_path / 'q.csv', _synthetic_gpqa(7))
  exs = benchmarks.load_gpqa_diamond(path, shuffle='simple_evals',
                                     n_repeats=2)
  rng = random.Random(0)
  assert len(exs) == 14
  for k, ex in enumerate(exs):  # simple-evals: examples * n_repeats.
    perm = rng.sample(range(4), 4)
    i = k % 7
    assert ex['permutation'] == perm
    assert ex['answer'] == 'ABCD'[perm.index(0)]
    assert ex['choices'][perm.index(0)] == f'right{i}'
    assert ex['id'] == f'gpqa_diamond/recSynthetic{i:05d}/r{k // 7}'
  # num_examples: simple-evals draws the rows from the same rng first.
  sub = benchmarks.load_gpqa_diamond(path, shuffle='simple_evals',
                                     num_examples=3)
  rng = random.Random(0)
  picked = rng.sample(list(range(7)), 3)
  assert [e['correct_answer'] for e in sub] == [f'right{i}' for i in picked]
  assert [e['permutation'] for e in sub] == [rng.sample(range(4), 4)
                                             for _ in range(3)]
  with pytest.raises(ValueError, match='num_examples'):
    benchmarks.load_gpqa_diamond(path, num_examples=3)


def test_gpqa_simple_evals_keeps_texts_unstripped():
  (ex, *_) = benchmarks.load_gpqa_diamond(bf.GPQA_CSV, shuffle='simple_evals')
  assert ex['question'].endswith('?\n') and 'W boson\n' in ex['choices']
  (ex, *_) = benchmarks.load_gpqa_diamond(bf.GPQA_CSV)
  assert ex['question'].endswith('?') and 'W boson' in ex['choices']


def test_gpqa_missing_column(tmp_path):
  header = [c for c in _gpqa_header() if c != 'Incorrect Answer 3']
  path = _write_gpqa(tmp_path / 'gpqa_diamond.csv', _synthetic_gpqa(2),
                     header=header)
  with pytest.raises(ValueError, match=r"gpqa_diamond\.csv: row 1 lacks "
                     r"column\(s\) \['Incorrect Answer 3'\]"):
    benchmarks.load_gpqa_diamond(path)
  with pytest.raises(ValueError, match='shuffle'):
    benchmarks.load_gpqa_diamond(bf.GPQA_CSV, shuffle='random')


def test_gpqa_hub_parquet(tmp_path):
  """The Hub's Parquet conversion of the CSV reads the same way (string
  columns; a missing Record ID falls back to the question text)."""
  rows = [{'Question': 'Q?', 'Correct Answer': 'a', 'Incorrect Answer 1': 'b',
           'Incorrect Answer 2': 'c', 'Incorrect Answer 3': 'd',
           'Record ID': 'recX', 'High-level domain': 'Physics'}]
  pq.write_table(pa.Table.from_pylist(rows), tmp_path / 'train.parquet')
  (ex,) = benchmarks.load_gpqa_diamond(tmp_path / 'train.parquet')
  assert ex['id'] == 'gpqa_diamond/recX' and ex['domain'] == 'Physics'
