r"""Arithmetic tasks read the answer of R1's readable layout: the integer of
the last `\boxed{}` in a summary, as the cold-start rewrite writes it
(r1jax/rejection/readable.py); a bare integer as before."""
import pytest

from r1jax.data import tasks
from r1jax.evaluation import scoring
from r1jax.rejection import readable
from r1jax.rewards import extract

EX = dict(answer='7')


@pytest.mark.parametrize('answer,ok', [
    ('7', True), (' 7 ', True),
    ('3+2=5, 5*3=15, 15-8=7. So the answer is \\boxed{7}.', True),
    ('Also ist die Antwort \\boxed{ 7 }.', True),
    ('\\boxed{6} no, \\boxed{7}', True),   # the last box counts
    ('\\boxed{7} no, \\boxed{6}', False),
    ('So the answer is 7.', False),          # words without a box
    ('\\boxed{7.0}', False), ('\\boxed{3+4}', False), ('\\boxed{}', False),
    ('\\boxed{7', False), (None, False)])
def test_verify_bare_or_boxed(answer, ok):
  for name in ('arithmetic', 'multilingual_arithmetic'):
    assert tasks.get(name).verify(answer, EX) is ok, (name, answer)


def test_readable_rewrite_scores_like_the_raw_sample():
  """An R1-Zero sample and its readable rewrite (an r1_chat completion:
  <think> already opened) score the same; a wrong chain stays wrong."""
  task = tasks.get('multilingual_arithmetic', lang='de', num_ops=3,
                   max_operand=5)
  raw = ('<think> ich beginne mit der zahl 3. jetzt addiere ich 2, also '
         '3+2=5. jetzt multipliziere ich mit 3, also 5*3=15. </think> '
         '<answer> 15 </answer>')
  text = readable.rewrite(raw, think_opened=False, lang='de')
  completion = text[len('<think>\n'):]
  assert completion.endswith('\\boxed{15}.\n</answer>')
  assert readable.is_readable(completion, think_opened=True)
  for ref, ok in (('15', True), ('16', False)):
    ex = dict(task.generate(0, 0), answer=ref)
    assert task.verify(extract.extract_answer(raw), ex) is ok
    [[s]] = scoring.score([ex], [[completion]], think_opened=True)
    assert (s.correct, s.formatted) == (ok, True)
