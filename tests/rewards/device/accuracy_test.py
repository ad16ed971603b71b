"""Device accuracy for the synthetic tasks agrees with the host verifiers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.data import tasks
from r1jax.rewards import extract
from r1jax.rewards.device import accuracy
from r1jax.rewards.device import testing

V = testing.CharVocab()
T = 64


def _wrap(ans):
  return f'<think>t</think><answer>{ans}</answer>'


INT_CASES = [  # (completion, gold, label)
    (_wrap('42'), 42, 1), (_wrap(' 42 '), 42, 1), (_wrap('-7'), -7, 1),
    (_wrap('+7'), 7, 1), (_wrap('7'), -7, 0), (_wrap('4 2'), 42, 0),
    (_wrap('42.0'), 42, 0), (_wrap('x42'), 42, 0), (_wrap(''), 0, 0),
    (_wrap('-'), 0, 0), (_wrap('0'), 0, 1), (_wrap('123456789'), 123456789, 1),
    (_wrap('1234567890'), 1234567890, 0),  # Over 9 digits.
    ('<think>t</think>42', 42, 0), ('<think>t</think><answer>42', 42, 0),
    (_wrap('41') + '<answer>42</answer>', 42, 0),
    ('<think><answer>42</answer></think><answer>4</answer>', 42, 0),
]

CD = dict(numbers=[3, 4, 2], target=14)
COUNTDOWN_CASES = [  # (answer text, example, label)
    ('(3 + 4) * 2', CD, 1), ('2*(4+3)', CD, 1), ('3 + 4 * 2', CD, 0),
    ('(3 + 4) * 2 * 1', CD, 0), ('7 * 2', CD, 0), ('(3 + 4) * 2)', CD, 0),
    ('((3 + 4) * 2', CD, 0), ('3 4 * 2', CD, 0), ('(3 + 4) x 2', CD, 0),
    ('', CD, 0), ('* 3 + 4 2', CD, 0), ('(3 + 4) * (2)', CD, 1),
    ('3 + 4 + 2 = 14', CD, 0),
    ('4 / (3 - 2)', dict(numbers=[4, 3, 2], target=4), 1),
    ('8 / (3 - 3)', dict(numbers=[8, 3, 3], target=0), 0),  # Divide by 0.
    ('24 / 3 / 4', dict(numbers=[24, 3, 4], target=2), 1),
    ('(6 - 1) / 5 * 7', dict(numbers=[6, 1, 5, 7], target=7), 1),
    ('100 - 3 * (4 + 5 * (2 - 1))', dict(numbers=[100, 3, 4, 5, 2, 1],
                                         target=73), 1),
]


def _int_acc(texts, answers):
  tokens_BxT, mask_BxT = V.batch(texts, T, eos=True)
  fn = jax.jit(accuracy.arithmetic_accuracy, static_argnums=4)
  return np.asarray(fn(tokens_BxT, mask_BxT, jnp.asarray(answers, jnp.int32),
                       V.classes(), V.tags()))


def _cd_acc(texts, examples):
  task = tasks.get('countdown')
  arrs = [task.device_answer(e) for e in examples]
  tokens_BxT, mask_BxT = V.batch(texts, T, eos=True)
  fn = jax.jit(accuracy.countdown_accuracy, static_argnums=5)
  return np.asarray(fn(
      tokens_BxT, mask_BxT, jnp.asarray([a['target'] for a in arrs]),
      jnp.asarray(np.stack([a['numbers_N'] for a in arrs])), V.classes(),
      V.tags()))


def test_arithmetic_hand_cases():
  texts, golds, labels = zip(*INT_CASES)
  np.testing.assert_array_equal(_int_acc(texts, golds), labels)


def test_countdown_hand_cases_match_host():
  answers, exs, labels = zip(*COUNTDOWN_CASES)
  got = _cd_acc([_wrap(a) for a in answers], exs)
  np.testing.assert_array_equal(got, labels)
  host = [tasks.get('countdown').verify(a, e) for a, e in zip(answers, exs)]
  np.testing.assert_array_equal(host, labels)


@pytest.mark.parametrize('name', ['arithmetic', 'multilingual_arithmetic'])
def test_generated_answers_agree_with_host(name):
  task = tasks.get(name)
  exs = task.examples(seed=3, start=0, count=16)
  texts = [_wrap(e['answer']) for e in exs]
  texts += [_wrap(str(int(e['answer']) + 1)) for e in exs]
  golds = [task.device_answer(e)['answer'] for e in exs] * 2
  host = [task.verify(extract.extract_answer(t), e)
          for t, e in zip(texts, exs + exs)]
  np.testing.assert_array_equal(_int_acc(texts, golds), host)
  assert sum(host) == 16


def test_generated_countdown_agrees_with_host():
  task = tasks.get('countdown', num_numbers=4)
  exs = task.examples(seed=5, start=0, count=16)
  texts = [_wrap(e['answer']) for e in exs]
  texts += [_wrap(e['answer'].replace('+', '-', 1)) for e in exs]
  host = [task.verify(extract.extract_answer(t), e)
          for t, e in zip(texts, exs + exs)]
  np.testing.assert_array_equal(_cd_acc(texts, exs + exs), host)
  assert sum(host[:16]) == 16
