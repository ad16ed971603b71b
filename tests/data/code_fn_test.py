"""The synthetic code_fn task: deterministic problems whose generated tests
match an independent reading of the prompt, the difficulty knob, held-out
specifications, the reference completion and the corpus.

Reference programs are our own (trusted) and run with exec to check the
DATA; model-written code goes through the sandbox (rewards.code).
"""
import re

import pytest

from r1jax.data import tasks
from r1jax.data import templates
from r1jax.data.tasks import code_fn


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
