"""Arithmetic chain generator and verifier."""
import pytest

from r1jax.data import tasks
from r1jax.data.tasks import arithmetic
from r1jax.data.tasks import expr


def test_deterministic_and_exact():
  task = tasks.get('arithmetic', num_ops=4, max_operand=12)
  exs = task.examples(seed=1, start=0, count=30)
  assert exs == task.examples(seed=1, start=0, count=30)
  for ex in exs:
    question = ex['prompt'][len('Compute '):].split('.')[0]
    value, _ = expr.evaluate(question)
    assert value == int(ex['answer'])  # The text evaluates to the answer.
    assert task.verify(ex['answer'], ex)


def test_chain_expression_keeps_order():
  assert arithmetic.chain_expression(7, [('+', 5), ('*', 3), ('-', 4)]) == (
      '(7 + 5) * 3 - 4')
  assert arithmetic.chain_expression(2, [('*', 3), ('+', 1), ('/', 7)]) == (
      '(2 * 3 + 1) / 7')


@pytest.mark.parametrize('answer,ok', [
    ('32', True), (' 32 ', True), ('+32', True), ('32.0', False),
    ('thirty-two', False), ('31', False), (None, False)])
def test_verify(answer, ok):
  assert tasks.get('arithmetic').verify(answer, dict(answer='32')) is ok
