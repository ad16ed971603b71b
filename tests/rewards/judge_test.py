"""Host judge: templates (named and user), rendering, the response span and
verdict / score parsing against hand-derived values; no JAX import."""
import os
import subprocess
import sys

import pytest

from r1jax.rewards import judge

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
USER = 'Q: {question}\nRef: {reference}\nA: {response}\nJudge:'


def test_named_templates_hold_every_field_once_and_end_with_text():
  for name in judge.TEMPLATES:
    text = judge.template_text(name)
    literals, fields = judge.split(text)
    assert sorted(fields) == sorted(judge.FIELDS)
    assert len(literals) == 4 and literals[-1].strip()
    assert judge.kind(name) == name


@pytest.mark.parametrize('template, match', [
    ('Q: {question}\nA: {response}\nOK?', r'\{reference\} 0 times'),
    ('{question}{question}{reference}{response}.', r'\{question\} 2 times'),
    ('{question} {reference} {response}', 'ends with a field'),
    ('verdikt', r'\{question\} 0 times'),
])
def test_bad_user_templates_are_refused(template, match):
  with pytest.raises(ValueError, match=match):
    judge.template_text(template)


def test_a_user_template_needs_to_say_how_it_is_parsed():
  assert judge.template_text(USER) == USER
  assert judge.kind(USER, 'score') == 'score'
  with pytest.raises(ValueError, match='parse'):
    judge.kind(USER)
  with pytest.raises(ValueError, match='parse'):
    judge.kind('verdict', 'grade')


def test_render_fills_fields_once_and_wraps():
  text = judge.render(USER, 'What is {reference}?', '4', 'x {question} y',
                      wrap=('<u>', '</u>'))
  # Values holding field names are not filled again.
  assert text == ('<u>Q: What is {reference}?\nRef: 4\nA: x {question} y\n'
                  'Judge:</u>')
  named = judge.render('verdict', 'Q1', 'R1', 'A1')
  assert 'Question:\nQ1\n\nReference answer:\nR1\n\nResponse:\nA1\n' in named
  assert named.endswith('"Verdict: incorrect".\n')


def test_response_span_is_the_summary_after_the_last_think_close():
  text = '<think>a</think> b </think> final'
  assert judge.response_span(text, 'summary') == ' final'
  assert judge.response_span(text, 'full') == text
  assert judge.response_span('no tags', 'summary') == 'no tags'
  with pytest.raises(ValueError, match='span'):
    judge.response_span(text, 'answer')


def test_chat_wrap_reads_the_markup_around_one_message():
  render = lambda m: f'<|user|>{m}<|end|>\n<|assistant|>'  # noqa: E731
  assert judge.chat_wrap(render) == ('<|user|>', '<|end|>\n<|assistant|>')
  with pytest.raises(ValueError, match='once'):
    judge.chat_wrap(lambda m: m.strip('\ue000'))


# (completion, value, ok); derived by hand from the module's rules.
VERDICTS = [
    ('Verdict: correct', 1.0, True),
    ('verdict:incorrect', 0.0, True),
    ('**Verdict:** Correct', 1.0, True),
    ('**Verdict**: **INCORRECT**', 0.0, True),
    ('__Verdict__ : `correct`.', 1.0, True),
    ('VERDICT :\n\t correct!', 1.0, True),
    ('Verdict: correct\nOn reflection...\nVerdict: incorrect', 0.0, True),
    ('Verdict: incorrect. Verdict: correctly', 0.0, True),  # last match
    ('Verdict: correctly', 0.0, False),
    ('Verdict: correct2', 0.0, False),
    ('Verdict - correct', 0.0, False),
    ('The answer is correct.', 0.0, False),
    ('Verdict: maybe', 0.0, False),
    ('Verdict: incorr', 0.0, False),  # cut short
    ('', 0.0, False),
    ('Verdict: correcté', 1.0, True),  # a non-ASCII letter is no letter
]
SCORES = [
    ('Score: 7', 6 / 9, True),
    ('score:10', 1.0, True),
    ('Score: 1', 0.0, True),
    ('**Score:** 9/10', 8 / 9, True),
    ('Score: 8.', 7 / 9, True),
    ('Score: 3\n...\nScore: 9', 8 / 9, True),
    ('Score: 0', 0.0, False),
    ('Score: 11', 0.0, False),
    ('Score: 7.5', 0.0, False),
    ('Score: 123', 0.0, False),
    ('Score: 5 then Score: 123', 4 / 9, True),  # last well-formed
    ('Score: 9 then Score: 42', 0.0, False),  # last one out of range
    ('Score: seven', 0.0, False),
    ('Score: ٧', 0.0, False),  # ASCII digits only
]


@pytest.mark.parametrize('text, value, ok', VERDICTS)
def test_parse_verdict(text, value, ok):
  assert judge.parse('verdict', text) == (pytest.approx(value), ok)


@pytest.mark.parametrize('text, value, ok', SCORES)
def test_parse_score(text, value, ok):
  assert judge.parse('score', text) == (pytest.approx(value), ok)


def test_the_module_imports_without_jax():
  code = ('import sys; import r1jax.rewards.judge; '
          'assert "jax" not in sys.modules, "jax imported"')
  subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True)
