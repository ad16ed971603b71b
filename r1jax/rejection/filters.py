"""Rejection-sampling filters over sample records, registered by name.

A filter is `fn(samples, **options) -> np.ndarray`: one bool keep flag per
sample. A transform (`register(name, transform=True)`) returns each
sample's new `"text"` instead and rejects nothing. Filters read
`sample["text"]`, the text that goes to SFT (the completion, possibly cut
by an earlier transform), and see only the samples still kept at their
place in the chain (`chain.apply`).

Options: their one set of defaults is the function's signature, and the
config overrides them (`config.filter_options.<name>.<opt>`). Two kinds
are not config: `think_opened` (whether the prompt template opened
<think>) is passed by the chain to every filter that takes it, and
`runtime` options (decontaminate's benchmark `index`) are passed by the
stage through `chain.apply(extra=...)`. Every filter checks its option
values before it looks at a sample, so a config is checked by calling the
filter on no samples (`chain.validate`).
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from r1jax.rewards import extract
from r1jax.rewards import language as language_lib
from r1jax.rewards import registry as reward_registry
from r1jax.rewards import repetition as repetition_lib

# Not options: `samples`, and `think_opened`, which follows the template.
CHAIN_ARGS = ("samples", "think_opened")


@dataclasses.dataclass(frozen=True)
class Filter:
  """A registered filter: its function, kind and non-config options."""
  name: str
  fn: Callable[..., Any]
  transform: bool = False
  runtime: tuple[str, ...] = ()


_FILTERS: dict[str, Filter] = {}


def register(name: str, transform: bool = False,
             runtime: Sequence[str] = ()):
  """Decorator that registers a filter (or a transform) under `name`."""

  def wrap(fn):
    if name in _FILTERS:
      raise ValueError(f"filter {name!r} registered twice")
    _FILTERS[name] = Filter(name, fn, transform, tuple(runtime))
    return fn

  return wrap


def get(name: str) -> Filter:
  if name not in _FILTERS:
    raise ValueError(f"config.filters: unknown filter {name!r}; "
                     f"registered: {names()}")
  return _FILTERS[name]


def names() -> list[str]:
  return sorted(_FILTERS)


def parameters(name: str) -> dict[str, inspect.Parameter]:
  """The filter's keyword parameters (everything after `samples`)."""
  params = inspect.signature(get(name).fn).parameters
  return {k: p for k, p in params.items() if k != "samples"}


def default_options(name: str) -> dict[str, Any]:
  """The config options of filter `name` and their (signature) defaults."""
  spec = get(name)
  return {k: p.default for k, p in parameters(name).items()
          if k not in CHAIN_ARGS and k not in spec.runtime}


def _check(ok: bool, name: str, opt: str, value: Any, want: str) -> None:
  if not ok:
    raise ValueError(
        f"config.filter_options.{name}.{opt}={value!r}: {want}")


def _is_int(v: Any) -> bool:
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
  return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def _texts(samples: Sequence[Mapping[str, Any]]) -> list[str]:
  return [str(s["text"]) for s in samples]


# CORRECTNESS AND FORMAT


@register("correct")
def correct(samples: Sequence[Mapping[str, Any]]) -> np.ndarray:
  """Keeps samples whose answer was verified correct (R1: "filtered to
  correct answers only")."""
  return np.array([bool(s["correct"]) for s in samples], bool)


# Tags and special tokens, which are not a summary on their own.
_TAG = re.compile(r"</?\w+>|<\|[^<>]*?\|>")


def has_summary(text: str, think_opened: bool = False) -> bool:
  """Whether `text` closes its think block and says something after it.

  Without `think_opened` and without any think tag there is no block to
  close: the whole text is the final section (the format reward, not this
  check, asks for a think block).
  """
  if extract.THINK_CLOSE not in text:
    if think_opened or "<think>" in text:
      return False
  return bool(_TAG.sub("", extract.final_section(text)).strip())


@register("summary")
def summary(samples: Sequence[Mapping[str, Any]],
            think_opened: bool = False) -> np.ndarray:
  """Keeps texts that close <think> and follow it with a summary (R1's
  readable format: reasoning, then a summary for the reader)."""
  return np.array([has_summary(t, think_opened) for t in _texts(samples)],
                  bool)


# READABILITY: LANGUAGE, PARAGRAPHS, CODE, REPETITION


@register("language")
def language(samples: Sequence[Mapping[str, Any]], think_opened: bool = False,
             min_fraction: float = 0.95,
             languages: Sequence[str] = language_lib.DEFAULT_LANGUAGES,
             min_chunk_words: int = 3,
             min_margin: float = 10.0) -> np.ndarray:
  """Keeps texts whose language reward (the fraction of CoT words in the
  target language: the sample's `lang`, else the prompt's language) is at
  least `min_fraction`. The reward itself computes it, so the filter and
  the reward agree; a CoT without words scores 0 there and is rejected.
  """
  _check(_is_number(min_fraction) and 0 <= min_fraction <= 1, "language",
         "min_fraction", min_fraction, "a fraction in [0, 1]")
  _check(not isinstance(languages, str) and len(languages) >= 2
         and all(isinstance(x, str) for x in languages), "language",
         "languages", languages, "a sequence of at least 2 ISO 639-1 codes")
  _check(_is_int(min_chunk_words) and min_chunk_words >= 1, "language",
         "min_chunk_words", min_chunk_words, "an int >= 1")
  _check(_is_number(min_margin) and min_margin >= 0, "language",
         "min_margin", min_margin, "a number >= 0 (nats)")
  if not samples:
    return np.zeros((0,), bool)
  batch = reward_registry.RewardBatch(_texts(samples), samples)
  values_B = language_lib.language(
      batch, think_opened=think_opened, languages=tuple(languages),
      min_chunk_words=min_chunk_words, min_margin=min_margin).values_B
  return np.asarray(values_B) >= min_fraction


_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


def paragraph_words(text: str) -> list[int]:
  """Words per paragraph (split at blank lines), counted as the language
  reward counts them (letter runs; one word per CJK character)."""
  return [sum(len(w) for _, w in language_lib.chunks(p))
          for p in _BLANK_LINE.split(text)]


def _scoped(text: str, scope: str, think_opened: bool) -> str:
  return extract.think_section(text, think_opened) if scope == "cot" else text


_SCOPES = ("cot", "text")


@register("long_paragraph")
def long_paragraph(samples: Sequence[Mapping[str, Any]],
                   think_opened: bool = False, max_words: int = 300,
                   scope: str = "text") -> np.ndarray:
  """Keeps texts with no paragraph over `max_words` words.

  R1 removed CoTs with long paragraphs but gives no length; 300 is ours
  (a long paragraph of prose has 100-200 words; an unbroken wall of
  reasoning, as R1-Zero writes, has thousands). `scope`: "text" checks the
  whole text, "cot" only the think section.
  """
  _check(_is_int(max_words) and max_words >= 1, "long_paragraph",
         "max_words", max_words, "an int >= 1")
  _check(scope in _SCOPES, "long_paragraph", "scope", scope,
         f"allowed: {_SCOPES}")
  return np.array(
      [max(paragraph_words(_scoped(t, scope, think_opened))) <= max_words
       for t in _texts(samples)], bool)


# A code fence: a line starting with ``` or ~~~ (CommonMark).
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


@register("code_block")
def code_block(samples: Sequence[Mapping[str, Any]],
               think_opened: bool = False,
               scope: str = "cot") -> np.ndarray:
  """Keeps texts without a fenced code block (a line opening with ``` or
  ~~~, closed or not). R1 removed *CoTs* with code blocks, so the default
  `scope="cot"` checks the think section only: a code problem's answer
  may still hold code; "text" checks everything.
  """
  _check(scope in _SCOPES, "code_block", "scope", scope,
         f"allowed: {_SCOPES}")
  return np.array([_FENCE.search(_scoped(t, scope, think_opened)) is None
                   for t in _texts(samples)], bool)


def repeated_fraction(text: str, ngram: int = 3) -> float:
  """1 - distinct/total over the word n-grams of `text` (the repetition
  reward's measure, as a fraction in [0, 1])."""
  return -repetition_lib.repetition_penalty(text, ngram, max_penalty=-1.0)


@register("repetition")
def repetition(samples: Sequence[Mapping[str, Any]], ngram: int = 3,
               max_fraction: float = 0.5) -> np.ndarray:
  """Keeps texts whose fraction of repeated word n-grams is at most
  `max_fraction`. 0.5 is ours: prose scores 0-0.06 (our docs, 1-3k
  words), a generation stuck in a loop approaches 1."""
  _check(_is_int(ngram) and ngram >= 1, "repetition", "ngram", ngram,
         "an int >= 1")
  _check(_is_number(max_fraction) and 0 <= max_fraction <= 1, "repetition",
         "max_fraction", max_fraction, "a fraction in [0, 1]")
  return np.array([repeated_fraction(t, ngram) <= max_fraction
                   for t in _texts(samples)], bool)


# LENGTH


@register("length")
def length(samples: Sequence[Mapping[str, Any]], max_tokens: int = 0,
           max_z: float = 3.0) -> np.ndarray:
  """Rejects truncated samples (always), samples longer than `max_tokens`
  (0: no cap) and those more than `max_z` standard deviations above the
  mean length (0: off). The mean and deviation are over the untruncated
  samples seen here: truncated ones, rejected anyway, would sit at the
  length limit and inflate both. 3 sigma is the usual outlier cut.
  """
  _check(_is_int(max_tokens) and max_tokens >= 0, "length", "max_tokens",
         max_tokens, "an int >= 0 (0: no cap)")
  _check(_is_number(max_z) and max_z >= 0, "length", "max_z", max_z,
         "a number >= 0 (0: off)")
  n_B = np.array([int(s["length"]) for s in samples], np.float64)
  ended_B = ~np.array([bool(s["truncated"]) for s in samples], bool)
  keep_B = ended_B.copy()
  if max_tokens:
    keep_B &= n_B <= max_tokens
  if max_z and ended_B.any():
    keep_B &= n_B <= n_B[ended_B].mean() + max_z * n_B[ended_B].std()
  return keep_B


# TRANSFORMS


def _boxed_end(text: str) -> int | None:
  """End offset of the last balanced `\\boxed{...}` in `text`, or None."""
  content = extract.last_boxed(text)
  if content is None:
    return None
  pattern = r"\\(?:boxed|fbox)\s*\{" + re.escape(content) + r"\}"
  ends = [m.end() for m in re.finditer(pattern, text)]
  return ends[-1] if ends else None


def trim(text: str) -> str:
  """`text` cut after its final answer: after the last `</answer>` when the
  final section has one, else at the end of the line holding the final
  section's last `\\boxed{}`; unchanged when neither is found."""
  final = extract.final_section(text)
  offset = len(text) - len(final)
  if extract.ANSWER_CLOSE in final:
    return text[:offset + final.rindex(extract.ANSWER_CLOSE)
                + len(extract.ANSWER_CLOSE)]
  end = _boxed_end(final)
  if end is None:
    return text
  eol = final.find("\n", end)
  return text if eol < 0 else text[:offset + eol]


@register("trim_after_answer", transform=True)
def trim_after_answer(samples: Sequence[Mapping[str, Any]]) -> list[str]:
  """Drops chatter after the final answer ("Hope this helps!")."""
  return [trim(t) for t in _texts(samples)]


# DUPLICATES AND CONTAMINATION


def shingles(text: str, n: int) -> frozenset[tuple[str, ...]]:
  """Lower-cased word n-grams of `text` (one shingle if shorter)."""
  words = text.lower().split()
  if len(words) <= n:
    return frozenset([tuple(words)])
  return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
  union = len(a | b)
  return len(a & b) / union if union else 1.0


@register("dedupe")
def dedupe(samples: Sequence[Mapping[str, Any]], ngram: int = 5,
           threshold: float = 0.9) -> np.ndarray:
  """Rejects a sample whose text equals (whitespace normalised) an earlier
  kept one of any problem, or whose word `ngram`-gram Jaccard similarity
  with an earlier kept sample of its problem id is at least `threshold`.
  5-word shingles as in BigCode's MinHash near-dedup (computed exactly
  here); 0.9 is ours, stricter than BigCode's 0.7-0.85 on code files,
  as samples of one problem legitimately share much of their wording."""
  _check(_is_int(ngram) and ngram >= 1, "dedupe", "ngram", ngram,
         "an int >= 1")
  _check(_is_number(threshold) and 0 < threshold <= 1, "dedupe",
         "threshold", threshold, "a similarity in (0, 1]")
  seen, kept = set(), collections.defaultdict(list)
  keep = []
  for s, text in zip(samples, _texts(samples)):
    norm = " ".join(text.split())
    sh = shingles(text, ngram)
    ok = norm not in seen and not any(
        jaccard(sh, o) >= threshold for o in kept[s["id"]])
    if ok:
      seen.add(norm)
      kept[s["id"]].append(sh)
    keep.append(ok)
  return np.array(keep, bool)


@dataclasses.dataclass(frozen=True)
class NgramIndex:
  """The word n-grams of a set of benchmark texts (see `ngram_index`)."""
  n: int
  grams: frozenset[str]


_WORD = re.compile(r"\w+")


def ngram_words(text: str) -> list[str]:
  """Lower-cased words with punctuation stripped."""
  return _WORD.findall(text.lower())


def text_ngrams(text: str, n: int) -> set[str]:
  words = ngram_words(text)
  return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def ngram_index(texts: Iterable[str], n: int) -> NgramIndex:
  """The word `n`-grams of `texts` (benchmark problems), for
  decontaminate. Texts shorter than `n` words add nothing."""
  if not _is_int(n) or n < 1:
    raise ValueError(f"ngram_index: n={n!r} must be an int >= 1")
  grams = set()
  for t in texts:
    grams |= text_ngrams(t, n)
  return NgramIndex(int(n), frozenset(grams))


_FIELDS = ("prompt", "text")


@register("decontaminate", runtime=("index",))
def decontaminate(samples: Sequence[Mapping[str, Any]], ngram: int = 8,
                  fields: Sequence[str] = ("prompt",),
                  index: NgramIndex | None = None) -> np.ndarray:
  """Rejects samples whose `fields` share a word `ngram`-gram with a
  benchmark text. 8-grams of lower-cased words as in open-r1's (and s1's)
  decontamination; we also strip punctuation, so a copy that spaces its
  symbols differently still matches. `index` is not a config option: the
  stage builds it with `ngram_index(benchmark_texts, ngram)` and passes
  it through `chain.apply(extra={"decontaminate": {"index": ...}})`.
  """
  _check(_is_int(ngram) and ngram >= 1, "decontaminate", "ngram", ngram,
         "an int >= 1")
  _check(not isinstance(fields, str) and len(fields) >= 1
         and all(f in _FIELDS for f in fields), "decontaminate", "fields",
         fields, f"a non-empty sequence of {_FIELDS}")
  if not samples:
    return np.zeros((0,), bool)
  if index is None:
    raise ValueError("config.filter_options.decontaminate: no benchmark "
                     "index; the stage must pass one (ngram_index(texts, "
                     "ngram)) as extra['decontaminate']['index']")
  if index.n != ngram:
    raise ValueError(f"config.filter_options.decontaminate.ngram={ngram!r}"
                     f": the benchmark index holds {index.n}-grams")
  cache: dict[str, bool] = {}
  keep = []
  for s in samples:
    clean = True
    for f in fields:
      text = str(s.get(f) or "")
      if text not in cache:
        cache[text] = index.grams.isdisjoint(text_ngrams(text, ngram))
      clean = clean and cache[text]
    keep.append(clean)
  return np.array(keep, bool)
