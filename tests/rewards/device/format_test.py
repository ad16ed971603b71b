"""Device format reward agrees with the host rule (char-level tokens)."""
import jax
import numpy as np

from r1jax.rewards import format as host_format
from r1jax.rewards.device import format as dfmt
from r1jax.rewards.device import testing
from r1jax.rewards.device import vocab
from tests.rewards import format_test

V = testing.CharVocab()


def _run(texts, think_opened=False, eos=True):
  tokens_BxT, mask_BxT = V.batch(texts, 64, eos=eos)
  fn = jax.jit(dfmt.format_reward, static_argnums=(3, 4))
  return np.asarray(fn(tokens_BxT, mask_BxT, V.classes(), V.tags(),
                       think_opened))


def test_matches_host_rule():
  texts = format_test.GOOD + format_test.BAD
  want = [1.0] * len(format_test.GOOD) + [0.0] * len(format_test.BAD)
  np.testing.assert_array_equal(_run(texts), want)
  np.testing.assert_array_equal(_run(texts, eos=False), want)
  assert [host_format.is_formatted(t) for t in texts] == [bool(w) for w in want]


def test_think_opened():
  texts = ['r</think><answer>1</answer>', '<think>r</think><answer>1</answer>',
           '</think><answer>1</answer>']
  np.testing.assert_array_equal(_run(texts, think_opened=True), [1, 0, 0])


def test_single_token_tags():
  # Tags as single special tokens: ids 200..203 appended to the vocab.
  texts = V.texts + ['<think>', '</think>', '<answer>', '</answer>']
  tags = vocab.Tags((len(V.texts),), (len(V.texts) + 1,),
                    (len(V.texts) + 2,), (len(V.texts) + 3,))
  cls = vocab.token_classes(texts)
  r, sp = V.encode('r'), V.encode(' ')
  seqs = [tags.think_open + tuple(r) + tags.think_close + tuple(sp)
          + tags.answer_open + tuple(r) + tags.answer_close,
          tags.think_open + tuple(r) + tags.think_close + tags.answer_open
          + tuple(r) + tags.answer_close + tuple(r)]
  tokens_BxT = np.zeros((2, 12), np.int32)
  mask_BxT = np.zeros((2, 12), np.int32)
  for i, s in enumerate(seqs):
    tokens_BxT[i, :len(s)] = s
    mask_BxT[i, :len(s)] = 1
  got = dfmt.format_reward(tokens_BxT, mask_BxT, cls, tags)
  np.testing.assert_array_equal(got, [1.0, 0.0])


def test_answer_span_uses_last_think_close():
  texts = ['<think><answer>5</answer></think><answer>67</answer>',
           '<think>x</think><answer>1</answer><answer>2</answer>']
  tokens_BxT, mask_BxT = V.batch(texts, 64)
  span_BxT, found_B = dfmt.answer_span(tokens_BxT, mask_BxT, V.tags())
  np.testing.assert_array_equal(found_B, [True, False])
  got = [V.texts[t] for t, s in zip(tokens_BxT[0], span_BxT[0]) if s]
  assert ''.join(got) == '67'
  assert not np.any(span_BxT[1])
