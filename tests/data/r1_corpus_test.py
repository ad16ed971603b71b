"""`r1_base`: mixing rate, slips and readability re-derived from the text.

Each property is measured on the generated documents, not read from the
generator: languages by the project's language reward and by script,
arithmetic by parsing every prompt and step, layout by the format reward
and the readable-layout check.
"""
import re

import numpy as np
import pytest

from r1jax.data import corpora
from r1jax.data.tasks import multilingual
from r1jax.rejection import readable
from r1jax.rewards import format as format_lib
from r1jax.rewards import language
from r1jax.rewards import registry

# The prompts' operation words (multilingual_arithmetic's wording).
_OP_WORDS = {"add": "+", "subtract": "-", "multiply by": "*",
             "divide by": "/", "addiere": "+", "subtrahiere": "-",
             "multipliziere mit": "*", "teile durch": "/", "加": "+",
             "减去": "-", "乘以": "*", "除以": "/"}
_PROMPT_OP = re.compile("(" + "|".join(sorted(_OP_WORDS, key=len)[::-1])
                        + r") ?(\d+)")
_FIRST = re.compile(r"(?:Start with|Beginne mit|从) ?(\d+)")
_EQ = re.compile(r"(-?\d+)([-+*/])(\d+)=(-?\d+)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
        "*": lambda a, b: a * b, "/": lambda a, b: a // b}
_SENT = re.compile(r"(?<=[.])\s+|(?<=。)\s*")
N = 1500


@pytest.fixture(scope="module")
def docs():
  return corpora.get("r1_base", num_docs=N)


def _question(doc):
  return re.search(r"User: (.*?)\. Assistant:", doc["text"]).group(1)


def _body(doc):
  return doc["text"].split("Assistant: ", 1)[1]


def _truth(question):
  """The chain's value, parsed from the prompt in any of its languages."""
  value = int(_FIRST.search(question).group(1))
  for word, n in _PROMPT_OP.findall(question):
    value = _OPS[_OP_WORDS[word]](value, int(n))
  return value


def _cot(doc):
  body = _body(doc)
  return body.split("<think>")[-1].split("</think>")[0]


def _language_reward(docs):
  batch = registry.RewardBatch([_body(d) for d in docs],
                               [{"lang": d["lang"]} for d in docs])
  return language.language(batch).values_B


def _se(p, n):
  return np.sqrt(p * (1 - p) / n)


def test_deterministic_in_seed():
  a = corpora.get("r1_base", num_docs=50)
  assert a == corpora.get("r1_base", num_docs=50)
  assert a != corpora.get("r1_base", num_docs=50, seed=101)
  assert a != corpora.get("r1_base", num_docs=50, p_mix=0.2)


def test_held_out_problems_left_out_in_every_language():
  # The held-out stream's problems, phrased in all three languages.
  held = {multilingual.MultilingualArithmetic(
      num_ops=3, max_operand=5, lang=lang).generate(1, i)["prompt"]
          for lang in multilingual.LANGS for i in range(200)}
  assert len(held) > 500  # (a few problems repeat)
  seen = lambda ds: sum(_question(d) in held for d in ds)
  assert seen(corpora.get("r1_base", num_docs=4000)) > 0  # not vacuous
  assert seen(corpora.get("r1_base", num_docs=4000, exclude_seed=1,
                          exclude_count=200)) == 0


def test_languages_mixed_only_on_non_english_prompts(docs):
  r = _language_reward(docs)
  by = {lang: r[[d["lang"] == lang for d in docs]] for lang in ("en", "de",
                                                                "zh")}
  assert by["en"].min() == 1.0
  for lang in ("de", "zh"):
    # p_mix = 0.5: about half the words; far below R1's 0.7 bar.
    assert 0.35 < by[lang].mean() < 0.65, (lang, by[lang].mean())
  pure = corpora.get("r1_base", num_docs=300, p_mix=0.0)
  assert _language_reward(pure).min() == 1.0


def test_mixing_rate_by_script(docs):
  # Chinese docs: a sentence with Latin letters is English; the fraction
  # of such sentences is p_mix (0.5) within 4 standard errors.
  sents = [s for d in docs if d["lang"] == "zh"
           for s in _SENT.split(_cot(d).strip()) if s]
  latin = np.mean([bool(re.search("[a-z]", s)) for s in sents])
  assert abs(latin - 0.5) < 4 * _se(0.5, len(sents)), latin


def test_english_steps_slip_less(docs):
  # First attempts of each step (not the checks' restatements), by the
  # language of their sentence; configured 0.05 (English) vs 0.15.
  wrong = {"en": [], "native": []}
  for d in docs:
    if d["lang"] == "en" or d["style"] != "worked":
      continue
    for s in _SENT.split(_cot(d).strip()):
      m = _EQ.search(s)
      if m is None or "check" in s or "prüfe" in s or "检查" in s:
        continue
      a, op, b, c = m.groups()
      key = "en" if s.startswith("now i") else "native"
      wrong[key].append(_OPS[op](int(a), int(b)) != int(c))
  for key, p in (("en", 0.05), ("native", 0.15)):
    rate, n = np.mean(wrong[key]), len(wrong[key])
    assert n > 500 and abs(rate - p) < 4 * _se(p, n), (key, rate, n)


def test_raw_outputs_are_hard_to_read(docs):
  bodies = [_body(d) for d in docs]
  assert not any("\n" in b or "\\boxed" in b for b in bodies)
  assert not any(readable.is_readable(b) for b in bodies)
  formatted = np.array([format_lib.is_formatted(b) for b in bodies])
  untagged = np.array([d["style"] == "untagged" for d in docs])
  assert not formatted[untagged].any() and formatted[~untagged].all()
  assert abs(untagged.mean() - 0.2) < 4 * _se(0.2, N)
  # No summary: the answer block holds a bare integer.
  for b in np.array(bodies)[formatted]:
    assert re.search(r"<answer> -?\d+ </answer>$", b), b


def test_some_answers_right_some_wrong(docs):
  worked = [d for d in docs if d["style"] == "worked"]
  right = [int(re.search(r"<answer> (-?\d+) ", _body(d)).group(1))
           == _truth(_question(d)) for d in worked]
  # Slips are carried on unless checked: most answers right, not all.
  assert 0.7 < np.mean(right) < 0.95, np.mean(right)
  for d in docs:
    if d["style"] == "direct":
      ans = int(re.search(r"<answer> (-?\d+) ", _body(d)).group(1))
      assert ans == _truth(_question(d))
