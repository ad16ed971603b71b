"""The safe expression parser."""
from fractions import Fraction

import pytest

from r1jax.data.tasks import expr


@pytest.mark.parametrize('text,value,numbers', [
    ('1 + 2 * 3', Fraction(7), [1, 2, 3]),
    ('(1 + 2) * 3', Fraction(9), [1, 2, 3]),
    ('7 / 2', Fraction(7, 2), [7, 2]),
    ('10 - 4 - 3', Fraction(3), [10, 4, 3]),
    ('8 / 4 / 2', Fraction(1), [8, 4, 2]),
])
def test_valid(text, value, numbers):
  assert expr.evaluate(text) == (value, numbers)


@pytest.mark.parametrize('text', [
    '', '1 +', '(1 + 2', '1 + 2)', '1 / 0', '-1 + 2', '2 ** 3', '1 2',
    '__import__("os").system("x")', '1' * 7, '(' * 9 + '1' + ')' * 9,
    '1 + ' * 100 + '1'])
def test_invalid(text):
  assert expr.evaluate(text) is None


def test_parse_int():
  assert expr.parse_int(' -12 ') == -12
  assert expr.parse_int('+3') == 3
  assert expr.parse_int('3.0') is None and expr.parse_int('1e3') is None
