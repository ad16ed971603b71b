"""The generative judge on the host: prompt templates and verdict parsing.

A frozen model is prompted with a template holding the question, the
reference answer and the response, and its completion is read for a verdict
(`Verdict: correct` / `Verdict: incorrect` -> 1 / 0) or a score (`Score: N`,
N in 1..10 -> (N - 1) / 9). R1 used DeepSeek-V3 this way in rejection
sampling [R1v2 B.3.3]; its prompt is not published, the templates below are
ours. The model runs elsewhere (r1jax/trainers/judge_model.py on the host,
r1jax/rewards/device/judge.py inside a compiled step); this module imports
no JAX, so reward worker processes can import it.

Parsing rules (the device twin applies the same ones to token ids):
1. ASCII letters are lower-cased and the markdown characters `*`, `_` and
   `` ` `` removed, so `**Verdict:** Correct` reads as `verdict: correct`.
2. The pattern is `verdict<ws>:<ws>(in)?correct` not followed by a letter or
   a digit, or `score<ws>:<ws>N` with N one or two digits not followed by a
   digit or by `.digit`; <ws> is any run of ASCII whitespace.
3. The LAST match counts (a judge may think aloud first). No match, or a
   score outside 1..10, gives ok=False: the caller masks or counts it, it is
   never a silent 0.
"""
from __future__ import annotations

import re

from r1jax.rewards import extract

VERDICT, SCORE = 'verdict', 'score'
KINDS = (VERDICT, SCORE)
FIELDS = ('question', 'reference', 'response')
# What of the response the judge sees: the text after the last </think>
# (R1 scores the summary; the whole text without a </think>), or all of it.
SPANS = ('summary', 'full')
SCORE_MIN, SCORE_MAX = 1, 10

_BODY = ('Question:\n{question}\n\n'
         'Reference answer:\n{reference}\n\n'
         'Response:\n{response}\n\n')
TEMPLATES = {
    VERDICT: (
        'You are grading a response to a question. Compare the final '
        'answer of the response with the reference answer: they match if '
        'they are equivalent, whatever their form. Ignore the reasoning.'
        '\n\n' + _BODY +
        'Reply with one line: "Verdict: correct" if the final answer '
        'matches the reference answer, otherwise "Verdict: incorrect".\n'),
    SCORE: (
        'You are rating a response to a question, given a reference answer,'
        ' on a scale from 1 (wrong or unhelpful) to 10 (correct, clear and '
        'complete).\n\n' + _BODY +
        'Reply with one line: "Score: N", N an integer from 1 to 10.\n'),
}

# Rule 1: ASCII lower case, markdown emphasis and code marks removed.
MARKUP = '*_`'
_FOLD = {**{ord(c): ord(c.lower()) for c in map(chr, range(65, 91))},
         **{ord(c): None for c in MARKUP}}
WHITESPACE = ' \t\n\r\f\v'
_WS = f'[{re.escape(WHITESPACE)}]*'
_PATTERNS = {
    VERDICT: re.compile(f'verdict{_WS}:{_WS}(in)?correct(?![a-z0-9])'),
    SCORE: re.compile(f'score{_WS}:{_WS}([0-9]{{1,2}})(?![0-9]|\\.[0-9])'),
}
_FIELD = re.compile(r'\{(' + '|'.join(FIELDS) + r')\}')


def template_text(template: str) -> str:
  """The text of a named template, or `template` itself when it is not a
  name; a ValueError unless it holds each field exactly once and ends with
  text after its last field (the judge continues that text)."""
  text = TEMPLATES.get(template, template)
  for f in FIELDS:
    n = text.count('{' + f + '}')
    if n != 1:
      raise ValueError(
          f'{template!r} holds {{{f}}} {n} times; a judge template is a '
          f'name ({sorted(TEMPLATES)}) or a text holding each of '
          f'{", ".join("{" + x + "}" for x in FIELDS)} once')
  if not split(text)[0][-1]:
    raise ValueError(f'{template!r} ends with a field: the judge must '
                     'continue a text of the template (e.g. an instruction)')
  return text


def kind(template: str, parse_as: str = '') -> str:
  """How completions of `template` are read: `parse_as` when set, else the
  template's name; a user template needs `parse_as`."""
  k = parse_as or (template if template in TEMPLATES else '')
  if k not in KINDS:
    raise ValueError(f'parse={parse_as!r} for template {template[:40]!r}: '
                     f'one of {KINDS} (empty only for a named template, '
                     f'{sorted(TEMPLATES)})')
  return k


def split(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """(literals, fields) of a template text: literals[i] comes before
  fields[i], the last literal after the last field. Rendering joins them,
  so a field's value is never searched for more fields."""
  parts = _FIELD.split(text)
  return tuple(parts[0::2]), tuple(parts[1::2])


def response_span(completion: str, span: str) -> str:
  """What of `completion` the judge sees (`SPANS`)."""
  if span not in SPANS:
    raise ValueError(f'span={span!r}; allowed: {SPANS}')
  return extract.final_section(completion) if span == 'summary' \
      else completion


def render(template: str, question: str, reference: str, response: str,
           wrap: tuple[str, str] = ('', '')) -> str:
  """The judge's prompt text: the template (a name or a text) with its
  fields filled in, between `wrap`'s prefix and suffix (the judge's chat
  markup; `chat_wrap`). `response` is used as given (see
  `response_span`)."""
  literals, fields = split(template_text(template))
  values = {'question': question, 'reference': reference,
            'response': response}
  out = [wrap[0], literals[0]]
  for f, lit in zip(fields, literals[1:]):
    out += [values[f], lit]
  return ''.join(out) + wrap[1]


# Stands in for the user message when reading a chat template's markup.
_PROBE = '\ue000judge\ue000'


def chat_wrap(render_user) -> tuple[str, str]:
  """(prefix, suffix) a chat template puts around one user message:
  `render_user(text)` -> the chat prompt (e.g. a `templates.Prompter`'s
  render). The judge's prompt is then prefix + render(...) + suffix on the
  host and on the device alike."""
  text = render_user(_PROBE)
  if text.count(_PROBE) != 1:
    raise ValueError('the chat template does not hold the user message '
                     'once, verbatim')
  prefix, suffix = text.split(_PROBE)
  return prefix, suffix


def fold(text: str) -> str:
  """Rule 1: ASCII lower case, markdown characters removed."""
  return text.translate(_FOLD)


def parse(kind_: str, completion: str) -> tuple[float, bool]:
  """(value, ok) of a judge completion: a verdict 1.0 / 0.0, a score
  normalised to [0, 1]; (0.0, False) when it holds no well-formed verdict
  (module rules)."""
  if kind_ not in KINDS:
    raise ValueError(f'kind={kind_!r}; allowed: {KINDS}')
  m = None
  for m in _PATTERNS[kind_].finditer(fold(completion)):
    pass
  if m is None:
    return 0.0, False
  if kind_ == VERDICT:
    return (0.0 if m.group(1) else 1.0), True
  n = int(m.group(1))
  if not SCORE_MIN <= n <= SCORE_MAX:
    return 0.0, False
  return (n - SCORE_MIN) / (SCORE_MAX - SCORE_MIN), True
