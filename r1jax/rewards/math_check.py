"""Math answer checking with math-verify, run inside pool workers.

This module is imported by spawned workers, so it stays light: math-verify
(and sympy) are imported only in the worker's init.
"""
import logging


def init_worker():
  """Imports math-verify and warms its regex caches in a worker."""
  # Time limits come from the pool (the worker is killed), not from
  # math-verify's signal.alarm, so its 'timeout disabled' note is noise.
  logging.getLogger('math_verify').setLevel(logging.ERROR)
  import math_verify  # pylint: disable=g-import-not-at-top
  math_verify.verify(math_verify.parse('$1$', parsing_timeout=None),
                     math_verify.parse('1', parsing_timeout=None),
                     timeout_seconds=None)


def _parse(text: str):
  import math_verify  # pylint: disable=g-import-not-at-top
  return math_verify.parse(text, parsing_timeout=None)


def check_math(pred: str, gold: str, parse=None) -> bool:
  """True if `pred` (an extracted answer) equals `gold` per math-verify.

  Gold is parsed as `\\boxed{gold}`. The prediction is parsed as written
  (handles prose such as 'the answer is 3') and, failing that, as
  `\\boxed{pred}` (handles bare LaTeX such as `\\sqrt 2` or `\\{1,2\\}`).
  Gold comes first in `verify`, as math-verify requires. `parse` (default
  math_verify.parse) may be a caching stand-in.
  """
  import math_verify  # pylint: disable=g-import-not-at-top
  parse = parse or _parse
  gold_parsed = parse('\\boxed{' + gold + '}')
  if not gold_parsed:
    return False
  candidates = [pred] if '\\boxed' in pred else [pred, '\\boxed{' + pred + '}']
  for text in candidates:
    parsed = parse(text)
    if parsed and math_verify.verify(gold_parsed, parsed,
                                     timeout_seconds=None):
      return True
  return False
