"""Language-consistency reward [R1v2 Eq. 7]: Num(Words_target)/Num(Words).

Computed over the chain of thought (the `<think>` section). Words are runs
of letters in alphabetic scripts and single characters in CJK scripts (one
Han character counts as one word); numbers and symbols are not words.
Single words cannot be identified reliably, so the CoT is cut into chunks
at sentence punctuation, line breaks and changes between CJK and
alphabetic script; each chunk is identified with py3langid (the langid.py
model, shipped inside the package, so nothing is downloaded), restricted to
`languages`, and all its words get that label. Chunks too short or too
ambiguous to identify (see `word_languages`) take the label of the nearest
identified chunk of the same script. A CoT with no words scores 0 (an
empty CoT earns nothing).
The target is the example's `lang` field, or else the prompt's language.
"""
import functools
import re
from typing import Sequence

import numpy as np

from r1jax.rewards import extract
from r1jax.rewards import registry

DEFAULT_LANGUAGES = ('en', 'de', 'fr', 'es', 'it', 'pt', 'ru', 'zh', 'ja',
                     'ko')
_CJK = (r'\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af'
        r'\uf900-\ufaff')
_TOKEN = re.compile(rf'(?P<cjk>[{_CJK}])|(?P<word>[^\W\d_{_CJK}]+)'
                    r'|(?P<stop>[.!?;:\n。！？；：])')


@functools.lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]):
  from py3langid import langid  # pylint: disable=g-import-not-at-top
  ident = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE)
  ident.set_languages(list(languages))
  return ident


def rank(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES):
  """(language, log-score) pairs for `text`, best first."""
  return _identifier(tuple(languages)).rank(text)


def identify(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES) -> str:
  """ISO 639-1 code of `text`'s language among `languages`."""
  return rank(text, languages)[0][0]


def chunks(text: str) -> list[tuple[str, list[str]]]:
  """Splits text into (script, words) chunks; script is 'cjk' or 'alpha'."""
  out, words, script = [], [], None
  for m in _TOKEN.finditer(text):
    kind = 'cjk' if m['cjk'] else 'alpha' if m['word'] else None
    if kind is None or (script is not None and kind != script):
      if words:
        out.append((script, words))
      words, script = [], None
    if kind is not None:
      words.append(m.group(0))
      script = kind
  if words:
    out.append((script, words))
  return out


def word_languages(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES,
                   min_chunk_words: int = 3,
                   min_margin: float = 10.0) -> list[tuple[str, int]]:
  """(language, number of words) per chunk of `text`.

  A chunk is identified on its own when it has `min_chunk_words` words and
  its best language beats the runner-up by `min_margin` nats; other chunks
  take the label of the nearest such chunk of the same script.
  """
  parts = chunks(text)
  guesses, sure = [], []
  for script, words in parts:
    ranked = rank(('' if script == 'cjk' else ' ').join(words), languages)
    guesses.append(ranked[0][0])
    margin = ranked[0][1] - ranked[1][1] if len(ranked) > 1 else min_margin
    sure.append(len(words) >= min_chunk_words and margin >= min_margin)
  labels = []
  for i, (script, words) in enumerate(parts):
    near = [j for j in range(len(parts))
            if sure[j] and parts[j][0] == script]
    j = min(near, key=lambda j: (abs(j - i), j)) if near else i
    labels.append((guesses[j], len(words)))
  return labels


def consistency(text: str, target: str,
                languages: Sequence[str] = DEFAULT_LANGUAGES,
                min_chunk_words: int = 3, min_margin: float = 10.0) -> float:
  """Fraction of the words of `text` in language `target` (0 if none)."""
  counts = word_languages(text, languages, min_chunk_words, min_margin)
  total = sum(n for _, n in counts)
  return sum(n for lab, n in counts if lab == target) / total if total else 0.0


@registry.register('language')
def language(batch: registry.RewardBatch, think_opened: bool = False,
             languages: Sequence[str] = DEFAULT_LANGUAGES,
             min_chunk_words: int = 3,
             min_margin: float = 10.0) -> registry.RewardResult:
  """Language consistency of each completion's CoT, in [0, 1]."""
  languages = tuple(languages)
  values = []
  for text, ex in zip(batch.completions, batch.examples):
    target = ex.get('lang') or identify(str(ex.get('prompt', '')), languages)
    cot = extract.think_section(text, think_opened)
    values.append(
        consistency(cot, target, languages, min_chunk_words, min_margin))
  return registry.RewardResult(np.array(values, np.float32))
