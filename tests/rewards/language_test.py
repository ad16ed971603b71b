"""Language-consistency reward on English, German and Chinese CoTs."""
import numpy as np
import pytest

from r1jax.rewards import language
from r1jax.rewards import registry

EN = ('First, add seven and five to get twelve. Then multiply the result by '
      'three. Wait, let me check: 36.')
# 6 + 3 German words, 7 English words.
DE_MIXED = ('Zuerst addieren wir sieben und fünf. Das ergibt zwölf. '
            'Then we multiply the result by three.')
# 9 + 6 Han characters, 5 English words.
ZH_MIXED = '我们先把七和五相加。 Then we multiply by three. 结果是三十六。'


def test_chunks_count_words_and_cjk_characters():
  assert language.chunks('Hi there 3+4。你好') == [
      ('alpha', ['Hi', 'there']), ('cjk', ['你', '好'])]


@pytest.mark.parametrize('text,target,want', [
    (EN, 'en', 1.0),
    (EN, 'de', 0.0),
    (DE_MIXED, 'de', 9 / 16),
    (DE_MIXED, 'en', 7 / 16),
    (ZH_MIXED, 'zh', 15 / 20),
    (ZH_MIXED, 'en', 5 / 20),
    ('Ich denke, das Ergebnis ist sieben.', 'de', 1.0),
    ('先加后乘，答案是三十六。', 'zh', 1.0),
    ('', 'en', 0.0),
    ('12 + 7 = 19', 'en', 0.0),
])
def test_consistency(text, target, want):
  assert language.consistency(text, target) == pytest.approx(want)


def test_reward_uses_cot_and_target_language():
  comps = [f'<think>{EN}</think><answer>36</answer>',
           f'<think>{DE_MIXED}</think><answer>36</answer>',
           f'<think>{ZH_MIXED}</think><answer>36</answer>',
           # Target from the prompt's language when `lang` is missing.
           f'<think>{DE_MIXED}</think><answer>36</answer>']
  exs = [dict(prompt='What is (7 + 5) * 3?', lang='en'),
         dict(prompt='x', lang='de'), dict(prompt='x', lang='zh'),
         dict(prompt='Was ist das Ergebnis von sieben plus fünf mal drei?')]
  res = registry.get('language')(registry.RewardBatch(comps, exs))
  np.testing.assert_allclose(res.values_B, [1.0, 9 / 16, 0.75, 9 / 16],
                             rtol=1e-6)


def test_answer_section_is_not_counted():
  text = 'reason in English here please</think><answer>Das ist es</answer>'
  res = registry.get('language')(
      registry.RewardBatch([text], [dict(prompt='', lang='en')]),
      think_opened=True)
  assert res.values_B[0] == 1.0
