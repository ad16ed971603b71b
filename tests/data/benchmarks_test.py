"""Benchmark loaders on small files in the published formats."""
import csv
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq

from r1jax.data import benchmarks


def _jsonl(path, rows):
  path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  return path


def test_gsm8k(tmp_path):
  p = _jsonl(tmp_path / 'test.jsonl', [
      dict(question='Q1', answer='a\nb <<2*3=6>>\n#### 1,234'),
      dict(question='Q2', answer='x\n#### -5')])
  exs = benchmarks.load('gsm8k', p)
  assert [e['answer'] for e in exs] == ['1234', '-5']
  assert exs[0]['prompt'] == 'Q1' and exs[0]['answer_type'] == 'math'


def test_gsm8k_hub_parquet(tmp_path):
  """openai/gsm8k on the Hub: main/train-00000-of-00001.parquet, two string
  columns question and answer (the README's download)."""
  schema = pa.schema([('question', pa.string()), ('answer', pa.string())])
  d = tmp_path / 'main'
  d.mkdir()
  p = d / 'train-00000-of-00001.parquet'
  pq.write_table(pa.Table.from_pylist(
      [dict(question='Q1', answer='a <<2*3=6>>\n#### 6'),
       dict(question='Q2', answer='b\n#### 1,000')], schema=schema), p)
  exs = benchmarks.load('gsm8k', p)
  assert [(e['prompt'], e['answer']) for e in exs] == [('Q1', '6'),
                                                       ('Q2', '1000')]


def test_math500(tmp_path):
  p = _jsonl(tmp_path / 'test.jsonl', [dict(
      problem='Find x.', solution='...', answer='\\frac{14}{3}',
      subject='Algebra', level=3, unique_id='test/algebra/1.json')])
  (ex,) = benchmarks.load_math500(p)
  assert ex['id'] == 'test/algebra/1.json'
  assert ex['answer'] == '\\frac{14}{3}' and ex['level'] == 3


def test_aime2024_parquet_and_csv(tmp_path):
  rows = [dict(id=60, problem='P', solution='S', answer='204',
               url='u', year='2024')]
  pq.write_table(pa.Table.from_pylist(rows), tmp_path / 'train.parquet')
  with open(tmp_path / 'train.csv', 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  for name in ('train.parquet', 'train.csv'):
    (ex,) = benchmarks.load_aime2024(tmp_path / name)
    assert ex['answer'] == '204' and ex['id'] == 'aime2024/60'


def test_gpqa_shuffles_like_simple_evals(tmp_path):
  cols = ['Question', 'Correct Answer', 'Incorrect Answer 1',
          'Incorrect Answer 2', 'Incorrect Answer 3', 'Explanation']
  rows = [dict(zip(cols, [f'Q{i}', f'right{i}', f'w1{i}', f'w2{i}',
                          f'w3{i}', 'e'])) for i in range(5)]
  with open(tmp_path / 'gpqa_diamond.csv', 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
  exs = benchmarks.load_gpqa_diamond(tmp_path / 'gpqa_diamond.csv')
  rng = random.Random(0)
  for i, ex in enumerate(exs):
    perm = rng.sample(range(4), 4)
    assert ex['answer'] == 'ABCD'[perm.index(0)]
    assert ex['choices'][perm.index(0)] == f'right{i}'
    assert f'{ex["answer"]}) right{i}' in ex['prompt']
    assert ex['answer_type'] == 'choice'
