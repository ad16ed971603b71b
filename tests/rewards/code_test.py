"""Code rewards: the program is the last fenced block after </think>; its
tests run in the sandbox; verdicts on fixed correct, wrong, crashing and
looping solutions are exactly as expected; a program the sandbox cannot run
is not scored (NaN, counted), never a silent 0."""
import json

import numpy as np
import pytest

from r1jax.evaluation import scoring
from r1jax.rewards import accuracy
from r1jax.rewards import code
from r1jax.rewards import registry
from r1jax.rewards import sandbox
from r1jax.rewards import total


def _fence(src: str) -> str:
  return f"<think> plan </think> Here it is:\n```python\n{src}\n```\n"


def test_extract_code():
  assert code.extract_code(
      "<think>```python\nx=1\n```</think>```python\ny=2\n```") == "y=2\n"
  assert code.extract_code("```py\na=1\n```\n```\nb=2\n```") == "b=2\n"
  assert code.extract_code("no fence here") is None
  assert code.extract_code("```python\nx=1\n```", think_opened=True) is None
  assert code.extract_code("```python\nx=1\n```") == "x=1\n"
  # A fence left open is not a program.
  assert code.extract_code("</think>```python\nx=1\n") is None


@pytest.mark.parametrize("got, want, same", [
    ("1 2\n3\n", "1 2\n3", True),
    ("1 2   \n3\n\n\n", "1 2\n3\n", True),
    ("0.30000000000000004\n", "0.3\n", True),
    ("0.31\n", "0.3\n", False),
    ("1 2\n", "1 3\n", False),
    ("abc\n", "abd\n", False),
    ("", "1\n", False),
])
def test_output_comparison(got, want, same):
  assert code._same_output(got, want) is same  # pylint: disable=protected-access


STDIN = {"id": "sum", "answer_type": "code", "fn_name": None, "tests": [
    {"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
    {"input": "10 -4\n", "output": "6\n", "testtype": "stdin"},
    {"input": "0 0\n", "output": "0\n", "testtype": "stdin"}]}
FUNCTIONAL = {"id": "two", "answer_type": "code", "fn_name": "add",
              "tests": [{"input": "1\n2", "output": "3",
                         "testtype": "functional"},
                        {"input": "[1, 2]\n[3]", "output": "[1, 2, 3]",
                         "testtype": "functional"}]}
CHECK = {"id": "he", "answer_type": "code", "fn_name": "inc",
         "preamble": "from typing import List",
         "tests": [{"input": "def check(candidate):\n"
                             "    assert candidate([1]) == [2]\n"
                             "    assert candidate([]) == []\n",
                    "output": "", "testtype": "check"}]}

CASES = [
    # (solution, example, verdicts)
    ("a, b = map(int, input().split())\nprint(a + b)", STDIN,
     ["pass", "pass", "pass"]),
    ("import sys\na, b = map(int, sys.stdin.read().split())\n"
     "print(a + b)\nsys.exit(0)", STDIN, ["pass", "pass", "pass"]),
    ("a, b = map(int, input().split())\nprint(a - b if b < 0 else a + b)",
     STDIN, ["pass", "wrong_answer", "pass"]),
    ("a, b = map(int, input().split())\nprint(a // b)", STDIN,
     ["wrong_answer", "wrong_answer", "runtime_error"]),
    ("while True:\n  pass", STDIN, ["timeout", "timeout", "timeout"]),
    # Closing stdout: the harness still reports (its own copy of fd 1);
    # closing it again fails.
    ("import os\nos.close(1)\nprint(3)", STDIN,
     ["pass", "runtime_error", "runtime_error"]),
    ("class Solution:\n  def add(self, a, b):\n    return a + b",
     FUNCTIONAL, ["pass", "pass"]),
    ("def add(a, b):\n  return a + b", FUNCTIONAL, ["pass", "pass"]),
    ("def add(a, b):\n  return b", FUNCTIONAL,
     ["wrong_answer", "wrong_answer"]),
    ("def inc(xs: List[int]) -> List[int]:\n  return [x + 1 for x in xs]",
     CHECK, ["pass"]),
    ("def inc(xs):\n  return xs", CHECK, ["wrong_answer"]),
    ("def inc(xs):\n  return 1 / 0", CHECK, ["runtime_error"]),
]


def test_verdicts_on_fixed_solutions():
  judged = code.judge([s for s, _, _ in CASES], [e for _, e, _ in CASES],
                      time_limit_s=0.5)
  assert [j.verdicts for j in judged] == [v for _, _, v in CASES]
  # The timed-out program: each test hit its own limit, not the process's.
  assert judged[4].status == "ok"


def test_rewards_all_tests_and_partial_credit():
  sols = [CASES[0][0], CASES[2][0], CASES[3][0], None]
  batch = registry.RewardBatch([_fence(s) if s else "no code" for s in sols],
                               [STDIN] * 4)
  full = code.code(batch, time_limit_s=0.5)
  part = code.code_partial(batch, time_limit_s=0.5)
  np.testing.assert_array_equal(full.values_B, [1, 0, 0, 0])
  np.testing.assert_allclose(part.values_B, [1, 2 / 3, 0, 0])
  assert full.metrics["pass"] == 0.25 and full.metrics["no_code"] == 0.25
  assert full.metrics["wrong_answer"] == 0.5 and full.failures == 0
  # accuracy dispatches code problems to the same judge.
  acc = accuracy.accuracy(registry.RewardBatch(batch.completions,
                                               batch.examples))
  np.testing.assert_array_equal(acc.values_B, [1, 0, 0, 0])


def test_infrastructure_errors_are_not_scored(monkeypatch):
  def broken(self, jobs, limits=None):
    del self, limits
    return [sandbox.Result(status="infrastructure_error", exit_code=None,
                           stdout="", stderr="", wall_s=0.0,
                           detail="could not start") for _ in jobs]

  monkeypatch.setattr(sandbox.Pool, "run", broken)
  batch = registry.RewardBatch([_fence(CASES[0][0])] * 2 + ["none"],
                               [STDIN] * 3)
  res = code.code(batch)
  assert np.isnan(res.values_B[:2]).all() and res.values_B[2] == 0
  assert res.failures == 2
  total_B, metrics = total.summarize({"code": res}, {"code": 1.0}, 3)
  np.testing.assert_array_equal(total_B, [0, 0, 0])
  assert metrics["reward/code/missing"] == pytest.approx(2 / 3)
  assert metrics["reward/code/failures"] == 2


def test_eval_scoring_of_code():
  exs = [STDIN, FUNCTIONAL]
  comps = [[_fence(CASES[0][0]), _fence(CASES[2][0]), "no code"],
           [_fence(CASES[6][0]), "<think> unfinished"]]
  scores = scoring.score(exs, comps, think_opened=False)
  assert [[s.correct for s in row] for row in scores] == [
      [True, False, False], [True, False]]
  assert [[s.status for s in row] for row in scores] == [
      ["ok", "wrong_answer", scoring.NO_ANSWER],
      ["ok", scoring.NO_ANSWER]]
  # cons@k groups identical programs.
  groups = scoring.answer_groups_batch([["x=1", "x=1 ", None]], "code")
  assert groups == [[0, 0, None]]


def test_harness_reads_tests_as_data():
  """Test inputs are JSON data to the harness, never code: a test input
  with quotes and newlines reaches the program verbatim."""
  tricky = '"""\n\'); import os; os._exit(3) #\n'
  ex = {"id": "echo", "answer_type": "code", "tests": [
      {"input": tricky, "output": json.dumps(tricky) + "\n",
       "testtype": "stdin"}]}
  (j,) = code.judge(["import sys, json\nprint(json.dumps(sys.stdin.read()))"],
                    [ex])
  assert j.verdicts == ["pass"], j
