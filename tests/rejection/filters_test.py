"""Each filter rejects its target and keeps a clean sample."""
import pytest

from r1jax.rejection import chain
from r1jax.rejection import filters

CLEAN_COT = ('First, we add seven and five to get twelve. Then we multiply '
             'the result by three. So the product is thirty six. Let me '
             'check this once more carefully.')
CLEAN = CLEAN_COT + '\n</think>\nThe answer is $\\boxed{36}$.'


def record(completion=CLEAN, pid='p0', **kw):
  """A sample record as the generate stage makes it."""
  rec = dict(id=pid, problem=0, sample=0, prompt='What is (7 + 5) * 3?',
             completion=completion, answer='36', reference='36',
             correct=True, formatted=True, status='ok', length=100,
             truncated=False, rewards={'accuracy': 1.0})
  rec.update(kw)
  return rec


def kept(samples, name, think_opened=True, extra=None, **opts):
  """Keep flags of filter `name` run alone through the chain."""
  out, _ = chain.apply(samples, [name], {name: opts},
                       think_opened=think_opened, extra=extra)
  return [s['rejected_by'] is None for s in out]


def test_correct():
  assert kept([record(), record(correct=False)], 'correct') == [True, False]


def test_summary_needs_closed_think_and_text_after_it():
  samples = [record(), record(CLEAN_COT),  # never closed
             record(CLEAN_COT + '</think>\n  \n'),  # nothing after
             record(CLEAN_COT + '</think>\n<answer>\n</answer>\n')]
  assert kept(samples, 'summary') == [True, False, False, False]
  # Template did not open <think>: an opened, unclosed block is rejected.
  samples = [record('<think>' + CLEAN), record('<think>' + CLEAN_COT),
             record('The answer is 36.')]
  assert kept(samples, 'summary', think_opened=False) == [True, False, True]


# Half the sentences in Chinese / German.
ZH_MIXED = ('First, we add seven and five to get twelve. 然后我们把结果乘以三。 '
            'So the product is thirty six. 让我再仔细检查一遍这个结果。')
DE_MIXED = ('First, we add seven and five to get twelve. Dann multiplizieren '
            'wir das Ergebnis mit drei. So the product is thirty six. Ich '
            'prüfe das noch einmal ganz sorgfältig.')


def test_language_rejects_mixed_cot():
  samples = [record(), record(ZH_MIXED + '</think> 36'),
             record(DE_MIXED + '</think> 36'),
             # Target from `lang` when given: an English CoT for German.
             record(lang='de')]
  assert kept(samples, 'language') == [True, False, False, False]
  # Only the CoT counts: a German summary is fine.
  german_summary = record(CLEAN_COT + '</think> Die Antwort ist sechsund'
                          'dreißig, das Ergebnis der Rechnung oben.')
  assert kept([german_summary], 'language') == [True]
  assert kept([record(DE_MIXED + '</think> 36')], 'language',
              min_fraction=0.3) == [True]


def test_long_paragraph():
  para = ' '.join(['word'] * 200)
  short = record(f'{para}\n\n{para}\n \n{para}</think> 36')
  long = record(f'{para} {para}</think> 36')
  assert kept([short, long], 'long_paragraph') == [True, False]
  assert kept([short, long], 'long_paragraph', max_words=100) == [False,
                                                                  False]


def test_code_block():
  code_cot = record('Let me compute it.\n```python\nprint((7 + 5) * 3)\n```\n'
                    '</think> 36')
  code_answer = record(CLEAN_COT + '</think>\n```python\nprint(36)\n```')
  assert kept([record(), code_cot, code_answer], 'code_block') == [
      True, False, True]
  assert kept([record(), code_cot, code_answer], 'code_block',
              scope='text') == [True, False, False]


def test_repetition():
  loop = record('Wait, the answer is 36. ' * 40 + '</think> 36')
  assert kept([record(), loop], 'repetition') == [True, False]


def test_length_rejects_truncated_and_outliers():
  samples = [record(length=100 + i) for i in range(20)]
  samples += [record(length=1000), record(length=90, truncated=True)]
  flags = kept(samples, 'length')
  assert flags == [True] * 20 + [False, False]
  assert kept(samples, 'length', max_z=0.0) == [True] * 21 + [False]
  assert kept(samples, 'length', max_z=0.0, max_tokens=110) == (
      [True] * 11 + [False] * 11)


def test_trim_after_answer():
  tagged = CLEAN_COT + '</think>\n<answer>36</answer>\nHope this helps!'
  boxed = (CLEAN_COT + '</think>\nSo it is $\\boxed{\\frac{1}{2}}$ here.\n\n'
           'Let me know if you need more.')
  think_boxed = 'Maybe \\boxed{3}?\nNo.</think>\nThe answer is 36.'
  out, counts = chain.apply(
      [record(tagged), record(boxed), record(CLEAN), record(think_boxed)],
      ['trim_after_answer'], {}, think_opened=True)
  assert [s['text'] for s in out] == [
      CLEAN_COT + '</think>\n<answer>36</answer>',
      CLEAN_COT + '</think>\nSo it is $\\boxed{\\frac{1}{2}}$ here.',
      CLEAN, think_boxed]
  assert counts['transformed'] == {'trim_after_answer': 2}
  assert counts['kept'] == 4
  assert [s['completion'] for s in out] == [tagged, boxed, CLEAN,
                                            think_boxed]


def test_dedupe_exact_and_near():
  words = [f'step{i}' for i in range(200)]
  base = ' '.join(words) + '</think> 36'
  spaced = base.replace(' ', '  \n', 3)
  near = ' '.join(words[:-1] + ['changed']) + '</think> 36'
  other = ' '.join(reversed(words)) + '</think> 36'
  samples = [record(base), record(spaced), record(near), record(other),
             # Exact duplicates count across problems, near ones within.
             record(base, pid='p1'), record(near, pid='p1')]
  assert kept(samples, 'dedupe') == [True, False, False, True, False, True]
  assert kept(samples[:4], 'dedupe', threshold=1.0) == [True, False, True,
                                                        True]


BENCH = ['Let $x$ and $y$ be real numbers such that $x + y = 10$ and '
         '$xy = 21$. Find the value of $x^2 + y^2$.',
         'How many positive divisors does $6!$ have?']


def test_decontaminate_ngram_overlap():
  index = filters.ngram_index(BENCH, 8)
  copied = record(prompt='Solve: LET x, and y be real numbers such that '
                  'x+y=10 and xy=21. Compute x^2+y^2.')
  different = record(prompt='Let $a$ and $b$ be positive integers with '
                     '$a + b = 10$. Find the largest value of $ab$.')
  extra = {'decontaminate': {'index': index}}
  assert kept([copied, different, record()], 'decontaminate',
              extra=extra) == [False, True, True]
  in_text = record(CLEAN_COT + '</think> such that $x + y = 10$ and $xy = 21$'
                   ' find the value of x^2')
  assert kept([in_text], 'decontaminate', extra=extra) == [True]
  assert kept([in_text], 'decontaminate', extra=extra,
              fields=('prompt', 'text')) == [False]


def test_decontaminate_needs_a_matching_index():
  with pytest.raises(ValueError, match=r'config\.filter_options\.'
                     r'decontaminate: needs'):
    kept([record()], 'decontaminate')
  with pytest.raises(ValueError, match=r'decontaminate\.ngram=13'):
    kept([record()], 'decontaminate', ngram=13,
         extra={'decontaminate': {'index': filters.ngram_index(BENCH, 8)}})


def test_default_options_come_from_signatures():
  opts = chain.default_options()
  assert opts['language']['min_fraction'] == 0.95
  assert opts['decontaminate'] == {'ngram': 8, 'fields': ('prompt',)}
  assert 'think_opened' not in opts['summary']
  assert opts['correct'] == {}
