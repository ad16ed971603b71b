"""Benchmark loaders on small files in the published Hub formats.

Static fixtures (tests/data/benchmark_files/) are text files laid out as on
the Hub; Parquet files and LiveCodeBench rows (whose private tests must be
compressed the way LCB's dataset builder did) are written per test.
"""
import base64
import csv
import datetime
import json
import logging
import os
import pathlib
import pickle
import random
import shutil
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax.data import benchmarks
from r1jax.data import templates
from r1jax.data.benchmarks import gpqa
from r1jax.data.benchmarks import livecodebench as lcb

FILES = pathlib.Path(__file__).parent / 'benchmark_files'
GPQA_CSV = FILES / 'gpqa_diamond.csv'
GPQA_CHOICES = ('Correct Answer', 'Incorrect Answer 1', 'Incorrect Answer 2',
                'Incorrect Answer 3')


def _jsonl(path, rows):
  path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  return path


# ---------------------------------------------------------------- registry


def test_registry_matches_the_paper():
  b = benchmarks.BENCHMARKS
  assert set(b) == {'gsm8k', 'math500', 'aime2024', 'aime2025',
                    'gpqa_diamond', 'livecodebench'}
  assert {k: s.default_n for k, s in b.items()} == dict(
      gsm8k=1, math500=16, aime2024=64, aime2025=64, gpqa_diamond=64,
      livecodebench=8)
  assert {k: s.expected_count for k, s in b.items()} == dict(
      gsm8k=1319, math500=500, aime2024=30, aime2025=30, gpqa_diamond=198,
      livecodebench=None)
  assert [k for k, s in b.items() if not s.scorable] == ['livecodebench']
  assert b['gpqa_diamond'].answer_type == 'choice'
  assert b['livecodebench'].answer_type == 'code'
  assert benchmarks.LOADERS == {k: s.loader for k, s in b.items()}
  for s in b.values():
    assert s.name and s.source and callable(s.loader)
  with pytest.raises(ValueError, match='unknown benchmark'):
    benchmarks.load('aime2026', GPQA_CSV)


def test_question_suffix():
  """Maths gets exactly templates.math_question; GPQA and LCB prompts are
  final as built."""
  for name in ('gsm8k', 'math500', 'aime2024', 'aime2025'):
    spec = benchmarks.BENCHMARKS[name]
    assert spec.question({'prompt': 'Find x. \n'}) == (
        templates.math_question('Find x. \n'))
    assert spec.question_suffix == templates.MATH_SUFFIX
  for name in ('gpqa_diamond', 'livecodebench'):
    assert benchmarks.BENCHMARKS[name].question_suffix == ''
    assert benchmarks.BENCHMARKS[name].question('P \n') == 'P \n'


def test_expected_count_warns_only(caplog):
  with caplog.at_level(logging.WARNING):
    exs = benchmarks.load('aime2025', FILES / 'opencompass_AIME2025')
  assert len(exs) == 4
  assert 'holds 4 records' in caplog.text and 'has 30' in caplog.text
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    benchmarks.load('gpqa_diamond', GPQA_CSV, n_repeats=2)
    benchmarks.load('gpqa_diamond', GPQA_CSV, shuffle='simple_evals')
  assert caplog.text.count('holds') == 1  # Only the unrepeated file warns.


# --------------------------------------------------------- GSM8K, MATH-500


def test_gsm8k(tmp_path):
  p = _jsonl(tmp_path / 'test.jsonl', [
      dict(question='Q1', answer='a\nb <<2*3=6>>\n#### 1,234'),
      dict(question='Q2', answer='x\n#### -5')])
  exs = benchmarks.load('gsm8k', p)
  assert [e['answer'] for e in exs] == ['1234', '-5']
  assert exs[0]['prompt'] == 'Q1' and exs[0]['answer_type'] == 'math'
  assert [e['id'] for e in exs] == ['gsm8k/0', 'gsm8k/1']


def test_gsm8k_hub_parquet(tmp_path):
  """openai/gsm8k on the Hub: main/test-00000-of-00001.parquet, two string
  columns question and answer (the README's download)."""
  schema = pa.schema([('question', pa.string()), ('answer', pa.string())])
  d = tmp_path / 'main'
  d.mkdir()
  p = d / 'test-00000-of-00001.parquet'
  pq.write_table(pa.Table.from_pylist(
      [dict(question='Q1', answer='a <<2*3=6>>\n#### 6'),
       dict(question='Q2', answer='b\n#### 1,000')], schema=schema), p)
  exs = benchmarks.load('gsm8k', p)
  assert [(e['prompt'], e['answer']) for e in exs] == [('Q1', '6'),
                                                       ('Q2', '1000')]


def test_gsm8k_names_file_and_row_on_bad_answer(tmp_path):
  p = _jsonl(tmp_path / 'test.jsonl', [dict(question='Q', answer='42')])
  with pytest.raises(ValueError, match=r'test\.jsonl: row 1: .*####'):
    benchmarks.load_gsm8k(p)


def test_math500_hub_jsonl():
  """HuggingFaceH4/MATH-500 test.jsonl; prm800k's math_splits/test.jsonl
  has the same lines."""
  exs = benchmarks.load('math500', FILES / 'MATH-500' / 'test.jsonl')
  assert [e['id'] for e in exs] == ['test/precalculus/807.json',
                                    'test/algebra/2584.json']
  assert exs[1]['answer'] == '\\frac{14}{3}' and exs[1]['level'] == 3
  assert exs[0]['subject'] == 'Precalculus' and exs[0]['task'] == 'math500'
  assert exs[0]['prompt'].startswith('Convert the point')


def test_math500_prm800k_lfs_pointer_is_explained(tmp_path):
  """openai/prm800k keeps math_splits/test.jsonl in Git LFS: a plain clone
  has a pointer file in its place."""
  d = tmp_path / 'prm800k' / 'math_splits'
  d.mkdir(parents=True)
  (d / 'test.jsonl').write_text(
      'version https://git-lfs.github.com/spec/v1\n'
      'oid sha256:35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4cc'
      'c5a06132\nsize 446564\n')
  with pytest.raises(ValueError, match=r'test\.jsonl is a Git LFS pointer'):
    benchmarks.load('math500', d / 'test.jsonl')
  shutil.copy(FILES / 'MATH-500' / 'test.jsonl', d / 'test.jsonl')
  assert len(benchmarks.load('math500', d / 'test.jsonl')) == 2


def test_math500_simple_evals_csv(tmp_path):
  p = tmp_path / 'math_500_test.csv'
  with open(p, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerows([['Question', 'Answer'], ['What is $1+1$?', '2']])
  (ex,) = benchmarks.load_math500(p)
  assert (ex['id'], ex['prompt'], ex['answer']) == ('math500/0',
                                                    'What is $1+1$?', '2')


def test_missing_column_names_file_and_column(tmp_path):
  p = _jsonl(tmp_path / 'test.jsonl', [dict(problem='P', solution='S')])
  with pytest.raises(ValueError, match=r"test\.jsonl: row 1 has none of "
                     r"the columns answer \| Answer"):
    benchmarks.load_math500(p)
  p = _jsonl(tmp_path / 'gsm.jsonl', [dict(question='Q')])
  with pytest.raises(ValueError, match=r"gsm\.jsonl: row 1 lacks "
                     r"column\(s\) \['answer'\]"):
    benchmarks.load_gsm8k(p)


def test_missing_paths_are_clear(tmp_path):
  with pytest.raises(FileNotFoundError, match='no such file'):
    benchmarks.load('aime2025', tmp_path / 'nope.jsonl')
  (tmp_path / 'README.md').write_text('card')
  with pytest.raises(FileNotFoundError, match=r'no \.jsonl/\.json/\.csv'):
    benchmarks.load('aime2025', tmp_path)


# ------------------------------------------------------------------- AIME


def test_aime2024_hub_parquet_and_csv(tmp_path):
  """HuggingFaceH4/aime_2024 data/train-00000-of-00001.parquet: id int64;
  problem, solution, answer, url, year strings."""
  schema = pa.schema([('id', pa.int64()), ('problem', pa.string()),
                      ('solution', pa.string()), ('answer', pa.string()),
                      ('url', pa.string()), ('year', pa.string())])
  rows = [dict(id=60, problem='P', solution='S', answer='204', url='u',
               year='2024')]
  (tmp_path / 'data').mkdir()
  pq.write_table(pa.Table.from_pylist(rows, schema=schema),
                 tmp_path / 'data' / 'train-00000-of-00001.parquet')
  with open(tmp_path / 'train.csv', 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  for path in (tmp_path / 'data' / 'train-00000-of-00001.parquet',
               tmp_path / 'train.csv'):
    (ex,) = benchmarks.load_aime2024(path)
    assert ex['answer'] == '204' and ex['id'] == 'aime2024/60'
    assert ex['solution'] == 'S' and ex['task'] == 'aime2024'


def test_aime2025_opencompass_two_files():
  """opencompass/AIME2025: aime2025-I.jsonl and aime2025-II.jsonl of
  {question, answer}; the directory or both files, ids unique across."""
  d = FILES / 'opencompass_AIME2025'
  by_dir = benchmarks.load_aime2025(d)
  by_list = benchmarks.load_aime2025(
      [d / 'aime2025-I.jsonl', d / 'aime2025-II.jsonl'])
  assert by_dir == by_list
  assert [e['id'] for e in by_dir] == [
      'aime2025/aime2025-I/0', 'aime2025/aime2025-I/1',
      'aime2025/aime2025-II/0', 'aime2025/aime2025-II/1']
  assert [e['answer'] for e in by_dir] == ['70', '24', '8', '1']
  assert by_dir[0]['prompt'].startswith('Find the sum of all integer bases')
  assert all(e['answer_type'] == 'math' and e['task'] == 'aime2025'
             for e in by_dir)
  (one,) = [e for e in benchmarks.load_aime2025(d / 'aime2025-II.jsonl')
            if e['answer'] == '8']
  assert one['id'] == 'aime2025/0'  # One file: no stem needed.


def test_aime2025_math_ai_jsonl():
  """math-ai/aime25 test.jsonl: {problem, answer, id} strings."""
  exs = benchmarks.load('aime2025', FILES / 'math-ai_aime25' / 'test.jsonl')
  assert [e['id'] for e in exs] == ['aime2025/0', 'aime2025/1', 'aime2025/2']
  assert [e['answer'] for e in exs] == ['70', '8', '1']


def test_aime2025_parquet_snapshots(tmp_path):
  """yentinglin/aime_2025 (data/train-*.parquet with id, problem, answer;
  lighteval's aime25) and MathArena/aime_2025 (problem_idx, problem, answer
  int64), read from the snapshot directory."""
  yent = tmp_path / 'yentinglin' / 'data'
  yent.mkdir(parents=True)
  pq.write_table(pa.Table.from_pylist(
      [dict(id=0, problem='P0', answer='70'), dict(id=1, problem='P1',
                                                   answer='588')],
      schema=pa.schema([('id', pa.int64()), ('problem', pa.string()),
                        ('answer', pa.string())])),
                 yent / 'train-00000-of-00001.parquet')
  (tmp_path / 'yentinglin' / 'README.md').write_text('card')
  exs = benchmarks.load_aime2025(tmp_path / 'yentinglin')
  assert [(e['id'], e['answer']) for e in exs] == [('aime2025/0', '70'),
                                                   ('aime2025/1', '588')]
  arena = tmp_path / 'arena.parquet'
  pq.write_table(pa.Table.from_pylist(
      [dict(problem_idx=1, problem='P1', answer=70)],
      schema=pa.schema([('problem_idx', pa.int64()), ('problem', pa.string()),
                        ('answer', pa.int64())])), arena)
  (ex,) = benchmarks.load_aime2025(arena)
  assert (ex['id'], ex['answer']) == ('aime2025/1', '70')


def test_duplicate_ids_are_refused(tmp_path):
  p = _jsonl(tmp_path / 'test.jsonl', [dict(problem='a', answer='1', id='7'),
                                       dict(problem='b', answer='2', id='7')])
  with pytest.raises(ValueError, match=r"duplicate ids \['aime2025/7'\]"):
    benchmarks.load_aime2025(p)


# ------------------------------------------------------------------- GPQA


def _gpqa_header():
  with open(GPQA_CSV, newline='', encoding='utf-8') as f:
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
  exs = benchmarks.load('gpqa_diamond', GPQA_CSV)
  with open(GPQA_CSV, newline='', encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  assert len(exs) == 4
  for ex, row in zip(exs, rows):
    assert ex['id'] == f'gpqa_diamond/{row["Record ID"]}'
    assert ex['answer_type'] == 'choice' and ex['task'] == 'gpqa_diamond'
    letter = ex['answer']
    assert ex['choices']['ABCD'.index(letter)] == row['Correct Answer'].strip()
    assert sorted(ex['choices']) == sorted(row[c].strip()
                                           for c in GPQA_CHOICES)
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
  (ex, *_) = benchmarks.load_gpqa_diamond(GPQA_CSV, shuffle='simple_evals')
  assert ex['question'].endswith('?\n') and 'W boson\n' in ex['choices']
  (ex, *_) = benchmarks.load_gpqa_diamond(GPQA_CSV)
  assert ex['question'].endswith('?') and 'W boson' in ex['choices']


def test_gpqa_missing_column(tmp_path):
  header = [c for c in _gpqa_header() if c != 'Incorrect Answer 3']
  path = _write_gpqa(tmp_path / 'gpqa_diamond.csv', _synthetic_gpqa(2),
                     header=header)
  with pytest.raises(ValueError, match=r"gpqa_diamond\.csv: row 1 lacks "
                     r"column\(s\) \['Incorrect Answer 3'\]"):
    benchmarks.load_gpqa_diamond(path)
  with pytest.raises(ValueError, match='shuffle'):
    benchmarks.load_gpqa_diamond(GPQA_CSV, shuffle='random')


def test_gpqa_hub_parquet(tmp_path):
  """The Hub's Parquet conversion of the CSV reads the same way (string
  columns; a missing Record ID falls back to the question text)."""
  rows = [{'Question': 'Q?', 'Correct Answer': 'a', 'Incorrect Answer 1': 'b',
           'Incorrect Answer 2': 'c', 'Incorrect Answer 3': 'd',
           'Record ID': 'recX', 'High-level domain': 'Physics'}]
  pq.write_table(pa.Table.from_pylist(rows), tmp_path / 'train.parquet')
  (ex,) = benchmarks.load_gpqa_diamond(tmp_path / 'train.parquet')
  assert ex['id'] == 'gpqa_diamond/recX' and ex['domain'] == 'Physics'


# ---------------------------------------------------------- LiveCodeBench


def _compress(tests) -> str:
  """What LCB's dataset builder stored for private tests."""
  return base64.b64encode(zlib.compress(
      pickle.dumps(json.dumps(tests), protocol=4))).decode('utf-8')


def _lcb_row(qid, date, *, platform='atcoder', starter='', func=None,
             private=None, compress=True, **overrides):
  testtype = 'functional' if func else 'stdin'
  public = [dict(input='1\n2\n', output='3\n', testtype=testtype)]
  private = private if private is not None else [
      dict(input=f'{k}\n{k}\n', output=f'{2 * k}\n', testtype=testtype)
      for k in range(3)]
  row = dict(
      question_title=f'title {qid}', question_content=f'Solve {qid}.',
      platform=platform, question_id=qid, contest_id=qid.split('_')[0],
      contest_date=date, starter_code=starter,
      difficulty='easy', public_test_cases=json.dumps(public),
      private_test_cases=(_compress(private) if compress
                          else json.dumps(private)),
      metadata=json.dumps({'func_name': func} if func else {}))
  row.update(overrides)
  return row


def _lcb_dir(tmp_path):
  d = tmp_path / 'code_generation_lite'
  d.mkdir()
  _jsonl(d / 'test4.jsonl', [
      _lcb_row('abc360_a', '2024-06-30T00:00:00'),
      _lcb_row('abc365_b', '2024-08-03T00:00:00')])
  _jsonl(d / 'test5.jsonl', [
      _lcb_row('3600', '2024-10-12T00:00:00', platform='leetcode',
               starter='class Solution:\n    def addTwo(self, a: int, b: int) '
                       '-> int:\n        ', func='addTwo', compress=False),
      _lcb_row('2041_C', '2024-12-31T00:00:00', platform='codeforces'),
      _lcb_row('abc386_c', '2025-01-01T00:00:00'),
      _lcb_row('3708', '2025-01-11T18:30:00', platform='leetcode',
               starter='class Solution:\n    pass', func='zigzag')])
  (d / 'README.md').write_text('card')
  return d


def test_lcb_version_files():
  assert lcb.version_files('release_v1') == ('test.jsonl',)
  assert lcb.version_files('release_v5')[-1] == 'test5.jsonl'
  assert len(lcb.version_files('release_v6')) == 6
  assert lcb.version_files('release_latest') == lcb.FILES
  assert lcb.version_files('v5') == ('test5.jsonl',)
  assert lcb.version_files('v1_v3') == ('test.jsonl', 'test2.jsonl',
                                        'test3.jsonl')
  assert lcb.version_files('v4_v5') == ('test4.jsonl', 'test5.jsonl')
  for bad in ('release_v9', 'v5_v4', 'latest'):
    with pytest.raises(ValueError, match='unknown LiveCodeBench version'):
      lcb.version_files(bad)


def test_lcb_records_and_decoded_tests(tmp_path):
  d = _lcb_dir(tmp_path)
  exs = {e['question_id']: e for e in lcb.load_livecodebench(d)}
  assert sorted(exs) == ['2041_C', '3600', '3708', 'abc360_a', 'abc365_b',
                         'abc386_c']
  fn = exs['3600']
  assert fn['id'] == 'livecodebench/leetcode/3600'
  assert fn['answer'] == '' and fn['answer_type'] == 'code'
  assert fn['task'] == 'livecodebench' and fn['fn_name'] == 'addTwo'
  assert fn['n_public_tests'] == 1 and len(fn['tests']) == 4
  assert fn['tests'][1] == dict(input='0\n0\n', output='0\n',
                                testtype='functional')
  std = exs['2041_C']
  assert std['fn_name'] is None and std['platform'] == 'codeforces'
  assert std['tests'][0] == dict(input='1\n2\n', output='3\n',
                                 testtype='stdin')
  assert std['tests'][3] == dict(input='2\n2\n', output='4\n',
                                 testtype='stdin')
  assert std['contest_date'] == '2024-12-31T00:00:00'
  assert not any('tests' in e for e in lcb.load_livecodebench(
      d, with_tests=False))


def test_lcb_prompts_are_lcbs():
  """Written out from lcb_runner/prompts/code_generation.py (DeepSeekR1
  style body, and the generic chat style) for both problem kinds."""
  head = ('You will be given a question (problem specification) and will '
          'generate a correct Python program that matches the specification '
          'and passes all tests.\n\nQuestion: Add.\n\n')
  assert lcb.prompt('Add.', 'class Solution:\n    def f(self):') == (
      head + 'You will use the following starter code to write the solution '
      'to the problem and enclose your code within delimiters.\n```python\n'
      'class Solution:\n    def f(self):\n```\n\n')
  assert lcb.prompt('Add.', '') == (
      head + 'Read the inputs from stdin solve the problem and write the '
      'answer to stdout (do not directly test on the sample inputs). Enclose '
      'your code within delimiters as follows. Ensure that when the python '
      'program runs, it reads the inputs, runs the algorithm and writes '
      'output to STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n')
  generic = lcb.prompt('Add.', '', style='generic')
  assert generic.startswith('### Question:\nAdd.\n\n### Format: Read the '
                            'inputs from stdin')
  assert generic.endswith('```python\n# YOUR CODE HERE\n```\n\n### Answer: '
                          '(use the provided format with backticks)\n\n')
  with pytest.raises(ValueError, match='prompt style'):
    lcb.prompt('Add.', '', style='chatml')


def test_lcb_date_window(tmp_path):
  d = _lcb_dir(tmp_path)
  ids = lambda exs: sorted(e['question_id'] for e in exs)  # noqa: E731
  # LCB keeps start <= contest_date <= end, the bounds at midnight.
  assert ids(lcb.load_livecodebench(
      d, start_date='2024-08-01', end_date='2025-01-01')) == [
          '2041_C', '3600', 'abc365_b', 'abc386_c']
  assert ids(lcb.load_livecodebench(
      d, start_date=datetime.date(2024, 10, 12),
      end_date=datetime.datetime(2024, 12, 31))) == ['2041_C', '3600']
  # benchmarks.load applies R1's window unless told otherwise.
  assert ids(benchmarks.load('livecodebench', d)) == [
      '2041_C', '3600', 'abc365_b', 'abc386_c']
  assert len(benchmarks.load('livecodebench', d, start_date=None,
                             end_date=None)) == 6


def test_lcb_versions_pick_files(tmp_path):
  d = _lcb_dir(tmp_path)
  assert len(lcb.load_livecodebench(d, version='v5')) == 4
  assert len(lcb.load_livecodebench(d, version='v4_v5')) == 6
  with pytest.raises(FileNotFoundError, match=r"release_v5 needs \["
                     r"'test\.jsonl', 'test2\.jsonl', 'test3\.jsonl'\]"):
    lcb.load_livecodebench(d, version='release_v5')
  assert len(lcb.load_livecodebench([d / 'test5.jsonl'])) == 4
  with pytest.raises(ValueError, match='version picks files'):
    lcb.load_livecodebench(d / 'test5.jsonl', version='v5')


def test_lcb_refuses_pickled_code(tmp_path):
  """A private_test_cases payload that names a class or function (how a
  pickle runs code) is refused, naming the file and row; nothing runs."""
  marker = tmp_path / 'pwned'

  class Exploit:

    def __reduce__(self):
      return (os.makedirs, (str(marker),))

  payloads = [pickle.dumps(os.system), pickle.dumps(Exploit())]
  for payload in payloads:
    blob = base64.b64encode(zlib.compress(payload)).decode()
    p = _jsonl(tmp_path / 'test6.jsonl', [
        _lcb_row('abc400_a', '2025-04-05T00:00:00'),
        _lcb_row('abc400_b', '2025-04-05T00:00:00', private_test_cases=blob)])
    with pytest.raises(ValueError, match=(
        r"test6\.jsonl: row 2 \(question_id abc400_b\): private_test_cases: "
        r"refused to unpickle: the pickle references (posix|os|nt)\."
        r"(system|makedirs)")):
      lcb.load_livecodebench(p)
  assert not marker.exists()
  # A pickle of anything but the JSON string is refused too.
  blob = base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode()
  p = _jsonl(tmp_path / 'test6.jsonl', [
      _lcb_row('abc400_b', '2025-04-05T00:00:00', private_test_cases=blob)])
  with pytest.raises(ValueError, match='holds a list'):
    lcb.load_livecodebench(p)


def test_lcb_bad_rows_are_named(tmp_path):
  row = _lcb_row('abc401_a', '2025-04-12T00:00:00')
  del row['private_test_cases']
  p = _jsonl(tmp_path / 'test6.jsonl', [row])
  with pytest.raises(ValueError, match=r"test6\.jsonl: row 1 lacks "
                     r"column\(s\) \['private_test_cases'\]"):
    lcb.load_livecodebench(p)
  p = _jsonl(tmp_path / 'test6.jsonl', [_lcb_row(
      'abc401_a', '2025-04-12T00:00:00', private_test_cases='not base64 !')])
  with pytest.raises(ValueError, match=r'row 1 \(question_id abc401_a\): '
                     r'private_test_cases: neither JSON nor'):
    lcb.load_livecodebench(p)
  p = _jsonl(tmp_path / 'test6.jsonl', [_lcb_row(
      'abc401_a', '2025-04-12T00:00:00',
      private=[dict(input='1', output='1', testtype='interactive')])])
  with pytest.raises(ValueError, match="testtype 'interactive'"):
    lcb.load_livecodebench(p)
  p = _jsonl(tmp_path / 'test6.jsonl', [
      _lcb_row('abc401_a', '2025-04-12T00:00:00'),
      _lcb_row('abc401_a', '2025-04-12T00:00:00')])
  with pytest.raises(ValueError, match='duplicate ids'):
    lcb.load_livecodebench(p)


def test_lcb_restricted_unpickler_reads_every_protocol():
  tests = [dict(input='1', output='2', testtype='stdin')]
  for proto in range(pickle.HIGHEST_PROTOCOL + 1):
    blob = base64.b64encode(zlib.compress(
        pickle.dumps(json.dumps(tests), protocol=proto))).decode()
    assert lcb.decode_private_tests(blob) == tests
  assert lcb.decode_private_tests(json.dumps(tests)) == tests


def test_every_loader_yields_the_common_fields(tmp_path):
  d = _lcb_dir(tmp_path)
  paths = dict(
      math500=FILES / 'MATH-500' / 'test.jsonl',
      aime2024=FILES / 'math-ai_aime25' / 'test.jsonl',
      aime2025=FILES / 'opencompass_AIME2025',
      gpqa_diamond=GPQA_CSV, livecodebench=d,
      gsm8k=_jsonl(tmp_path / 'g.jsonl', [dict(question='Q', answer='#### 1')]))
  for name, spec in benchmarks.BENCHMARKS.items():
    exs = spec.loader(paths[name])
    assert exs, name
    for e in exs:
      assert {'id', 'prompt', 'answer', 'answer_type', 'task'} <= set(e)
      assert isinstance(e['id'], str) and isinstance(e['prompt'], str)
      assert isinstance(e['answer'], str)
      assert e['answer_type'] == spec.answer_type and e['task'] == name
    assert len({e['id'] for e in exs}) == len(exs)


def test_json_array_and_json_lines_files(tmp_path):
  """Some copies ship a .json array (e.g. a single AIME2025.json)."""
  rows = [dict(problem='P0', answer='1'), dict(problem='P1', answer='2')]
  (tmp_path / 'a.json').write_text(json.dumps(rows, indent=1))
  _jsonl(tmp_path / 'b.json', rows)
  for name in ('a.json', 'b.json'):
    assert [e['answer'] for e in benchmarks.load_aime2025(
        tmp_path / name)] == ['1', '2']
  (tmp_path / 'c.json').write_text('[{"problem": ')
  with pytest.raises(ValueError, match=r'c\.json: invalid JSON'):
    benchmarks.load_aime2025(tmp_path / 'c.json')
