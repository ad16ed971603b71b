"""Arithmetic chains phrased in English, German or Chinese.

The same problems as `arithmetic`, written in words in the prompt's
language, with an instruction to reason in that language; the example's
`lang` field is the target of the language-consistency reward.
"""
import dataclasses
from typing import Any

from r1jax.data.tasks import arithmetic
from r1jax.data.tasks import base

LANGS = ('en', 'de', 'zh')

_PHRASES = {
    'en': dict(start='Start with {n}', sep=', ', end='. What is the result? '
               'Think in English. The final answer is a single integer.',
               ops={'+': 'add {n}', '-': 'subtract {n}',
                    '*': 'multiply by {n}', '/': 'divide by {n}'}),
    'de': dict(start='Beginne mit {n}', sep=', ', end='. Was ist das '
               'Ergebnis? Denke auf Deutsch. Die endgültige Antwort ist eine '
               'ganze Zahl.',
               ops={'+': 'addiere {n}', '-': 'subtrahiere {n}',
                    '*': 'multipliziere mit {n}', '/': 'teile durch {n}'}),
    'zh': dict(start='从{n}开始', sep='，', end='。结果是多少？请用中文思考。'
               '最终答案是一个整数。',
               ops={'+': '加{n}', '-': '减去{n}', '*': '乘以{n}',
                    '/': '除以{n}'}),
}


def phrase(lang: str, start: int, steps) -> str:
  p = _PHRASES[lang]
  parts = [p['start'].format(n=start)]
  parts += [p['ops'][op].format(n=n) for op, n in steps]
  return p['sep'].join(parts) + p['end']


@base.register('multilingual_arithmetic')
@dataclasses.dataclass(frozen=True)
class MultilingualArithmetic(arithmetic.Arithmetic):
  """Knobs of `arithmetic`, plus `lang`: one of LANGS or 'mixed'."""
  lang: str = 'mixed'

  def __post_init__(self):
    if self.lang not in LANGS + ('mixed',):
      raise ValueError(f'lang must be one of {LANGS + ("mixed",)}')
    if self.min_ops:
      raise ValueError('multilingual_arithmetic has a fixed num_ops; '
                       'min_ops is for arithmetic only')

  def generate(self, seed: int, index: int) -> dict[str, Any]:
    rng = self.rng(seed, index)
    start, steps, answer = arithmetic.make_chain(
        rng, self.num_ops, self.max_operand, self.allow_division)
    lang = rng.choice(LANGS) if self.lang == 'mixed' else self.lang
    return dict(id=f'{self.name}/{seed}/{index}',
                prompt=phrase(lang, start, steps), answer=str(answer),
                task=self.name, lang=lang)
