"""Countdown generator and verifier."""
import pytest

from r1jax.data import tasks
from r1jax.data.tasks import expr


def test_deterministic_and_solvable():
  task = tasks.get('countdown', num_numbers=4, max_number=50)
  a = task.examples(seed=7, start=0, count=20)
  assert a == task.examples(seed=7, start=0, count=20)
  assert a[3] == task.generate(7, 3)
  assert a != task.examples(seed=8, start=0, count=20)
  for ex in a:
    assert len(ex['numbers']) == 4 and max(ex['numbers']) <= 50
    assert 1 <= ex['target'] <= 999
    value, used = expr.evaluate(ex['answer'])
    assert value == ex['target'] and sorted(used) == sorted(ex['numbers'])
    assert task.verify(ex['answer'], ex)
    assert str(ex['target']) in ex['prompt']


EX = dict(numbers=[25, 5, 3], target=8)


@pytest.mark.parametrize('answer,ok', [
    ('25 / 5 + 3', True), ('3 + 25 / 5', True), ('(25 / 5) + 3', True),
    ('25 / 5 + 3 + 0', False),  # Uses 0, not given.
    ('25 / 5 + 3 = 8', False), ('5 + 3', False),  # Not all numbers.
    ('25 - 5 * 3', False),  # Wrong value.
    ('25/5+3', True), (None, False), ('eval("8")', False),
])
def test_verify(answer, ok):
  assert tasks.get('countdown').verify(answer, EX) is ok


def test_device_answer_padding():
  arrs = tasks.get('countdown').device_answer(EX)
  assert arrs['target'] == 8
  assert list(arrs['numbers_N']) == [25, 5, 3, -1, -1, -1, -1, -1]
