"""A safe parser for + - * / expressions over non-negative integers.

Model text is never passed to `eval`. The grammar is
  expr := term (('+' | '-') term)*
  term := atom (('*' | '/') atom)*
  atom := integer | '(' expr ')'
with exact `Fraction` arithmetic, no unary minus, bounded length and depth.
"""
from fractions import Fraction
import re

MAX_CHARS = 200
MAX_DEPTH = 8
MAX_DIGITS = 6
_TOKEN = re.compile(r'\s*(\d+|[-+*/()])')


class _Invalid(Exception):
  pass


def _tokens(text: str) -> list[str]:
  out, pos = [], 0
  text = text.rstrip()
  while pos < len(text):
    m = _TOKEN.match(text, pos)
    if m is None:
      raise _Invalid(f'bad character at {pos}')
    out.append(m.group(1))
    pos = m.end()
  return out


class _Parser:
  """Recursive-descent evaluator that also records the literals it read."""

  def __init__(self, toks):
    self.toks, self.i, self.numbers = toks, 0, []

  def peek(self):
    return self.toks[self.i] if self.i < len(self.toks) else None

  def take(self):
    tok = self.peek()
    if tok is None:
      raise _Invalid('unexpected end')
    self.i += 1
    return tok

  def expr(self, depth):
    if depth > MAX_DEPTH:
      raise _Invalid('too deep')
    value = self.term(depth)
    while self.peek() in ('+', '-'):
      op, rhs = self.take(), self.term(depth)
      value = value + rhs if op == '+' else value - rhs
    return value

  def term(self, depth):
    value = self.atom(depth)
    while self.peek() in ('*', '/'):
      op, rhs = self.take(), self.atom(depth)
      if op == '/' and rhs == 0:
        raise _Invalid('division by zero')
      value = value * rhs if op == '*' else value / rhs
    return value

  def atom(self, depth):
    tok = self.take()
    if tok == '(':
      value = self.expr(depth + 1)
      if self.take() != ')':
        raise _Invalid('missing )')
      return value
    if tok.isdigit():
      if len(tok) > MAX_DIGITS:
        raise _Invalid('number too long')
      self.numbers.append(int(tok))
      return Fraction(int(tok))
    raise _Invalid(f'unexpected {tok!r}')


def evaluate(text: str) -> tuple[Fraction, list[int]] | None:
  """(value, integer literals in order), or None if `text` is invalid."""
  if len(text) > MAX_CHARS:
    return None
  try:
    parser = _Parser(_tokens(text))
    value = parser.expr(0)
    if parser.peek() is not None:
      return None
    return value, parser.numbers
  except _Invalid:
    return None


def parse_int(text: str) -> int | None:
  """An integer answer such as '-12' or ' 7 ', else None."""
  text = text.strip()
  if re.fullmatch(r'[-+]?\d{1,12}', text) is None:
    return None
  return int(text)
