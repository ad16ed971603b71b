"""Repetition penalty and the reflective-word count."""
import re

import numpy as np

from r1jax.rewards import extract
from r1jax.rewards import registry

# Reflective words tracked by R1 [R1v2 C.2].
REFLECTIVE_WORDS = ('wait', 'mistake', 'however', 'but', 'retry', 'error',
                    'verify', 'wrong', 'evaluate', 'check')
_WORD = re.compile(r'\w+', re.UNICODE)


def repetition_penalty(text: str, ngram: int = 3,
                       max_penalty: float = -1.0) -> float:
  """max_penalty * (1 - distinct/total) over the word n-grams of `text`."""
  words = text.lower().split()
  if len(words) < ngram:
    return 0.0
  grams = [tuple(words[i:i + ngram]) for i in range(len(words) - ngram + 1)]
  return max_penalty * (1.0 - len(set(grams)) / len(grams))


def reflective_count(text: str) -> int:
  """Occurrences of REFLECTIVE_WORDS as whole words, case-insensitive."""
  words = set(REFLECTIVE_WORDS)
  return sum(w in words for w in _WORD.findall(text.lower()))


@registry.register('repetition')
def repetition(batch: registry.RewardBatch, ngram: int = 3,
               max_penalty: float = -1.0) -> registry.RewardResult:
  """In [max_penalty, 0]: more repeated n-grams, a larger penalty."""
  values_B = np.array([repetition_penalty(c, ngram, max_penalty)
                       for c in batch.completions], np.float32)
  return registry.RewardResult(values_B)


@registry.register('reflection')
def reflection(batch: registry.RewardBatch,
               think_opened: bool = False) -> registry.RewardResult:
  """Reflective words in the CoT; weight 0 by default (a metric)."""
  values_B = np.array(
      [reflective_count(extract.think_section(c, think_opened))
       for c in batch.completions], np.float32)
  return registry.RewardResult(values_B)
