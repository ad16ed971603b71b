"""Scoring of benchmark completions: final section only, grouping, votes."""
import pytest

from r1jax.data import tasks
from r1jax.evaluation import scoring
from r1jax.rewards import math_check
from r1jax.rewards import pool as pool_lib


def _pool():
  # The process-wide checker pool, shared with the reward tests.
  return pool_lib.get_pool(math_check.init_worker, 0)


# With a prefilled `<think>` (think_opened=True) the completion starts in
# the chain of thought.
PREFILLED = 'Try 7: \\boxed{7}. No, wait.\n</think>\nSo \\boxed{3}.'
TRUNCATED = 'Try 7: \\boxed{7}. Still checking'


def test_final_section():
  assert scoring.final_section(PREFILLED, True) == '\nSo \\boxed{3}.'
  assert scoring.final_section(TRUNCATED, True) is None
  # The completion opened the think block itself and never closed it.
  assert scoring.final_section('<think>x \\boxed{1}', False) is None
  # No think block at all: the whole completion.
  assert scoring.final_section('So \\boxed{1}', False) == 'So \\boxed{1}'
  # The last `</think>` counts.
  assert scoring.final_section('a</think>b</think>c', True) == 'c'
  assert scoring.final_section('<think>a</think>', False) == ''


def test_extract_final_section_only():
  assert scoring.extract(PREFILLED, 'math', True) == '3'
  assert scoring.extract(TRUNCATED, 'math', True) is None
  assert scoring.extract('<think>\\boxed{7}', 'math', False) is None
  assert scoring.extract('<think>\\boxed{7}</think> none', 'math',
                         False) is None
  assert scoring.extract('The answer is \\boxed{12}.', 'math', False) == '12'
  # R1-Zero's `<answer>` tags win over boxes; several blocks give nothing.
  zero = '<think>\\boxed{1}</think> <answer> 5 </answer>'
  assert scoring.extract(zero, 'math', False) == '5'
  assert scoring.extract(zero, 'task', False) == '5'
  assert scoring.extract(
      '</think><answer>1</answer><answer>2</answer>', 'math', True) is None


def test_extract_choice():
  assert scoring.extract('hmm</think>\nAnswer: b', 'choice', True) == 'B'
  assert scoring.extract('hmm</think>\\boxed{(C)}', 'choice', True) == 'C'
  # The letter written while thinking does not count.
  assert scoring.extract('Answer: B</think>I am unsure.', 'choice',
                         True) is None
  assert scoring.extract('Answer: B, or maybe', 'choice', True) is None
  assert scoring.extract('Answer: D', 'choice', False) == 'D'


def test_code_extracts_the_last_block_and_unknown_types_raise():
  # Code is scored in the sandbox (tests/rewards/code_test.py).
  assert scoring.extract('```python\nx=1\n```', 'code', False) == 'x=1\n'
  assert scoring.extract('```python\nx=1\n```', 'code', True) is None
  assert scoring.score([{'answer': '', 'answer_type': 'code', 'tests': []}],
                       [['x']], False)[0][0].status == scoring.NO_ANSWER
  with pytest.raises(ValueError, match='unknown answer_type'):
    scoring.extract('x', 'proof', False)


def test_score_math_choice_task():
  arith = tasks.get('arithmetic').generate(0, 0)
  examples = [
      {'answer': '3', 'answer_type': 'math'},
      {'answer': '7', 'answer_type': 'math'},
      {'answer': 'B', 'answer_type': 'choice'},
      arith,
  ]
  completions = [
      [PREFILLED, TRUNCATED, 'x</think>\\boxed{\\frac{6}{2}}'],
      [PREFILLED, 'x</think>\\boxed{' + 'x' * 2000 + '}'],
      ['x</think>Answer: B', 'x</think>Answer: A', 'Answer: B'],
      ['x</think><answer>' + arith['answer'] + '</answer>',
       'x</think>\\boxed{1}'],
  ]
  got = scoring.score(examples, completions, True)
  S = scoring.Score
  assert got[0] == [S('3', True, True, pool_lib.OK),
                    S(None, False, False, scoring.NO_ANSWER),
                    S('\\frac{6}{2}', True, True, pool_lib.OK)]
  # Scored on the final section's 3, not the chain of thought's 7.
  assert got[1][0] == S('3', False, True, pool_lib.OK)
  assert got[1][1].status == scoring.TOO_LONG and not got[1][1].correct
  assert got[2] == [S('B', True, True, pool_lib.OK),
                    S('A', False, True, pool_lib.OK),
                    S(None, False, False, scoring.NO_ANSWER)]
  assert got[3] == [S(arith['answer'], True, True, pool_lib.OK),
                    S('1', False, True, pool_lib.OK)]
  with pytest.raises(ValueError, match='completion lists'):
    scoring.score(examples, completions[:2], True)


def test_math_groups_with_math_verify():
  answers = ['\\frac{1}{2}', '0.5', None, '1/2', '3', '0.5', '\\dfrac12',
             '3.0', '2']
  got = scoring.answer_groups(answers, 'math', pool=_pool())
  assert got == [0, 0, None, 0, 1, 0, 0, 1, 2]
  # Batched across problems = one problem at a time.
  other = ['7', None, '7.00', '14/2', '8']
  assert scoring.answer_groups_batch([answers, other, [None, None]],
                                     'math') == [got, [0, None, 0, 0, 1],
                                                 [None, None]]


class _FakePool:
  """Records calls; `equal(new, rep)` decides, None answers TIMEOUT."""

  def __init__(self, equal):
    self.equal, self.calls = equal, []

  def map(self, fn, args_list, timeout_s):
    assert fn is scoring.same_math_answer and timeout_s == 5.0
    self.calls.append(list(args_list))
    out = []
    for new, rep in args_list:
      eq = self.equal(new, rep)
      out.append(pool_lib.CallResult(pool_lib.TIMEOUT) if eq is None else
                 pool_lib.CallResult(pool_lib.OK, eq))
    return out


def test_math_groups_calls_and_timeouts():
  fake = _FakePool(lambda new, rep: new.strip('.') == rep.strip('.'))
  got = scoring.answer_groups(['1', '1', '2', '1.', '2', '1'], 'math',
                              pool=fake)
  assert got == [0, 0, 1, 0, 1, 0]
  # Exact repeats are not checked; '1.' is compared with both groups' first
  # members (the representative is math-verify's gold) in one map.
  assert fake.calls == [[('2', '1')], [('1.', '1'), ('1.', '2')]]
  # A timeout means 'not equivalent'; a match with several groups joins the
  # first.
  fake = _FakePool(lambda new, rep: None if rep == 'a' else True)
  assert scoring.answer_groups(['a', 'b', 'c'], 'math', pool=fake) == [
      0, 1, 1]
  fake = _FakePool(lambda new, rep: True)
  assert scoring.answer_groups(['a', 'b', 'c'], 'math',
                               pool=fake) == [0, 0, 0]
  # Too long answers are grouped by exact string, unchecked.
  long = 'x' * 1001
  fake = _FakePool(lambda new, rep: True)
  assert scoring.answer_groups([long, 'a', long, 'b'], 'math',
                               pool=fake) == [0, 1, 0, 1]
  assert fake.calls == [[('b', 'a')]]


def test_string_groups():
  assert scoring.answer_groups(['b', ' B', 'C', None, 'b'], 'choice') == [
      0, 0, 1, None, 0]
  assert scoring.answer_groups(['12', '12 ', '3+9'], 'task') == [0, 0, 1]
  assert scoring.answer_groups(['x=1', 'x=1 ', 'x=2'], 'code') == [0, 0, 1]


def test_majority():
  # Groups 0 and 1 tie with two votes: 0 occurred first and wins; its first
  # sample (index 1) decides.
  assert scoring.majority([None, 0, 1, 1, 0, 2],
                          [1, 0, 1, 1, 1, 0]) == (0, False)
  assert scoring.majority([1, 0, 0, 1], [1, 1, 0, 0]) == (1, True)
  assert scoring.majority([0, 1, 1], [1, 0, 0]) == (1, False)
  assert scoring.majority([None, None], [0, 0]) == (None, False)
  with pytest.raises(ValueError):
    scoring.majority([0], [1, 0])


def test_kind():
  assert scoring.kind({'task': 'countdown', 'answer_type': 'math'}) == 'task'
  assert scoring.kind({'task': 'math500', 'answer_type': 'math'}) == 'math'
  assert scoring.kind({'answer_type': 'choice'}) == 'choice'
  assert scoring.kind({}) == 'math'


def test_same_math_answer_is_check_math():
  xs = ['\\frac{1}{2}', '0.5', '1/2', '50\\%', '\\sqrt 2', '\\sqrt{2}',
        'x=2', '2', '(3, 4)', '(4,3)', 'The answer is 3', '3', '\\boxed{3}']
  math_check.init_worker()
  for _ in range(2):  # The second pass reads the cached parses.
    for a in xs:
      for b in xs:
        assert scoring.same_math_answer(a, b) == math_check.check_math(a, b)
