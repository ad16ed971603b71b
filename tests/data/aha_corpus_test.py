"""The aha corpus: checks are rare, independent of slips, computed by the
inverse operation and always right, so a checked solution is correct and
an unchecked one is as good as its slips allow. Re-derived from the text by
parsing every step and check, not from the generator's internals."""
import random
import re

import numpy as np
import pytest

from r1jax.data import aha_corpus, corpora, tasks
from r1jax.data.tasks import arithmetic, expr

_STEP = re.compile(r"(-?\d+)([-+*/])(\d+)=(-?\d+)\.")
_CHECK = re.compile(r"wait, let me check: (-?\d+)([-+*/])(\d+)=(-?\d+), "
                    r"should be (-?\d+)\. (?:correct\.|i made a mistake: "
                    r"(-?\d+)([-+*/])(\d+)=(-?\d+)\.)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
        "*": lambda a, b: a * b, "/": lambda a, b: a // b}


def _answer(text):
  return re.search(r"<answer> (-?\d+) </answer>", text).group(1)


def _truth(text):
  """The problem's value, evaluated with precedence (not the chain)."""
  q = re.search(r"Compute (.*?)\. The final", text).group(1)
  value, _ = expr.evaluate(q)
  assert value.denominator == 1
  return int(value)


@pytest.fixture(scope="module")
def all_docs():
  return corpora.get("r1_zero_aha", num_docs=5000)


@pytest.fixture(scope="module")
def docs(all_docs):
  """The templated solutions (not the drills)."""
  return [d for d in all_docs if "Assistant: " in d["text"]]


def test_drills_teach_the_check_outside_the_template(all_docs):
  drills = [d["text"] for d in all_docs if "Assistant: " not in d["text"]]
  frac = len(drills) / len(all_docs)
  assert abs(frac - 0.25) < 4 * np.sqrt(0.25 * 0.75 / len(all_docs))
  for text in drills:
    assert "<think>" not in text and "User:" not in text
    assert text.count("wait, let me check:") == len(
        _STEP.findall(_CHECK.sub("", text))) >= 2


def _body(doc):
  return doc["text"].split("Assistant: ", 1)[1]


def test_checks_are_rare_and_decided_per_solution(docs):
  tagged = [d for d in docs if "<think>" in _body(d)
            and "=" in _body(d).split("</think>")[0]]
  checked = [d for d in tagged if "wait" in _body(d)]
  # p_careful = 0.1 of tagged worked solutions, within 4 standard errors.
  frac = len(checked) / len(tagged)
  se = np.sqrt(0.1 * 0.9 / len(tagged))
  assert abs(frac - 0.1) < 4 * se, frac
  assert 0.02 < len(checked) / len(docs) < 0.06  # a few percent of all
  for d in checked:  # a careful writer checks every step
    body = _body(d).split("</think>")[0]
    first_attempts = _STEP.findall(_CHECK.sub("", body))
    assert len(first_attempts) >= 2
    assert body.count("wait, let me check:") == len(first_attempts)


def test_every_check_is_the_inverse_step_and_right(docs):
  n_fail = n_pass = 0
  for d in docs:
    body = _body(d)
    for m in re.finditer(r"(-?\d+)([-+*/])(\d+)=(-?\d+)\. "
                         + _CHECK.pattern, body):
      a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
      back, inv, b2, y = int(m[5]), m[6], int(m[7]), int(m[8])
      assert back == c and b2 == b
      assert inv == {"+": "-", "-": "+", "*": "/", "/": "*"}[op]
      assert y == _OPS[inv](c, b)  # the check's arithmetic never slips
      assert int(m[9]) == a  # compared with the step's left operand
      if _OPS[op](a, b) == c:
        assert m[10] is None, m[0]  # a right step passes
        n_pass += 1
      else:
        assert y != a, m[0]  # a slip fails ...
        assert int(m[13]) == _OPS[op](a, b)  # ... and is corrected
        n_fail += 1
  # Failed checks appear at the slip rate (0.2) among checked steps.
  assert n_pass > 100 and 0.12 < n_fail / (n_fail + n_pass) < 0.28


def test_checked_solutions_are_right_unchecked_ones_slip(docs):
  right = {"checked": [], "unchecked": []}
  for d in docs:
    body = _body(d)
    if "<answer>" not in body or "=" not in body.split("</think>")[0]:
      continue
    truth = _truth(d["text"])
    key = "checked" if "wait" in body else "unchecked"
    right[key].append(int(_answer(body)) == truth)
  assert np.mean(right["checked"]) == 1.0
  # (1 - 0.2)^ops averaged over 2-4 operations is about 0.52.
  assert 0.45 < np.mean(right["unchecked"]) < 0.6


def test_restate_control_has_no_benefit():
  docs = [d for d in corpora.get("r1_zero_aha", num_docs=3000,
                                 check="restate")
          if "Assistant: " in d["text"]]
  checked = [_body(d) for d in docs if "wait" in _body(d)]
  assert checked
  wrong = 0
  for body in checked:
    for m in re.finditer(r"(-?\d+[-+*/]\d+=-?\d+)\. wait, let me check: "
                         r"(-?\d+[-+*/]\d+=-?\d+)\. (\w+)\.", body):
      assert m[1] == m[2] and m[3] == "correct"
  for d in docs:
    body = _body(d)
    if "wait" in body:
      wrong += int(_answer(body)) != _truth(d["text"])
  assert wrong > 0  # slips go through unnoticed


def test_held_out_problems_are_left_out_and_output_is_deterministic():
  task = tasks.get("arithmetic", num_ops=4, min_ops=2, max_operand=5)
  held = {e["prompt"] for e in task.examples(1, 0, 200)}
  docs = corpora.get("r1_zero_aha", num_docs=1500, exclude_seed=1,
                     exclude_count=200)
  assert not any(f"User: {p}." in d["text"] for p in held for d in docs)
  assert docs == corpora.get("r1_zero_aha", num_docs=1500, exclude_seed=1,
                             exclude_count=200)


def test_arithmetic_min_ops_mixes_difficulties():
  fixed = tasks.get("arithmetic", num_ops=3, max_operand=5)
  mixed = tasks.get("arithmetic", num_ops=4, min_ops=2, max_operand=5)
  ops = [e["ops"] for e in mixed.examples(0, 0, 600)]
  counts = np.bincount(ops, minlength=5)[2:]
  assert counts.min() > 150 and sum(counts) == 600  # ~uniform on 2..4
  for e in mixed.examples(0, 0, 50) + fixed.examples(0, 0, 50):
    assert _truth(e["prompt"]) == int(e["answer"])
    assert e["prompt"].count("+") + e["prompt"].count("-") + \
        e["prompt"].count("*") + e["prompt"].count("/") == e["ops"]
  assert {e["ops"] for e in fixed.examples(0, 0, 50)} == {3}
  # min_ops=0 draws nothing more: the fixed stream is the one before it.
  for i in range(20):
    start, steps, answer = arithmetic.make_chain(
        random.Random(f"arithmetic/0/{i}"), 3, 5, True)
    assert fixed.generate(0, i)["prompt"] == (
        f"Compute {arithmetic.chain_expression(start, steps)}. The final "
        "answer is a single integer.")
  with pytest.raises(ValueError, match="min_ops=5"):
    tasks.get("arithmetic", num_ops=4, min_ops=5)
  with pytest.raises(ValueError, match="check="):
    aha_corpus.solution(None, 1, [], 0.0, True, check="copy")


def test_misconceptions_are_fixed_wrong_facts_that_checks_catch():
  docs = corpora.get("r1_zero_aha", num_docs=3000, p_slip=0.0,
                     p_misconception=0.2)
  written = {}
  for d in docs:
    text = _CHECK.sub("", d["text"].split("Assistant: ")[-1])
    for a, op, b, c in _STEP.findall(text):
      written.setdefault((a, op, b), set()).add(c)
  # Without random slips a step is always written the same way ...
  assert all(len(v) == 1 for v in written.values())
  wrong = [k for k, v in written.items()
           if int(next(iter(v))) != _OPS[k[1]](int(k[0]), int(k[2]))]
  # ... and wrong for about a fifth of the distinct steps.
  assert 0.12 < len(wrong) / len(written) < 0.28, len(written)
  # Checked solutions still end right; the checks catch every one.
  for d in docs:
    body = d["text"].split("Assistant: ")[-1]
    if "<answer>" in body and "wait" in body:
      assert int(_answer(body)) == _truth(d["text"])
