r"""R1's readable layout for cold-start data, from R1-Zero's own samples.

R1's cold start [R1v2 B.3.2]: sample R1-Zero at T 1.0, keep correct,
readable outputs (repetition and language-mixing filters), then refine
them into a readable layout with a summary after the reasoning [R1v1
2.3.1: `|special_token|<reasoning_process>|special_token|<summary>`]. The
paper refined with DeepSeek-V3 and people; here a rule does it:

  <think> s1. s2. s3. </think> <answer> 7 </answer>
->
  <think>
  s1.
  s2.
  s3.
  </think>
  <answer>
  3+2=5, 5*3=15, 15-8=7. So the answer is \boxed{7}.
  </answer>

one sentence (step) per line, then a summary: the chain's equations as
finally written (a check that corrects "5*3=14" to "5*3=15" leaves the
corrected one) and the answer in `\boxed{}`, in the prompt's language.
That is configs/r1.py's cold-start completion ("reasoning\n</think>\n
<answer>\nsummary, final answer in \boxed{}\n</answer>"): the format reward
passes it (the summary sits inside the answer tags) and the `summary`
filter finds it; math-verify reads the answer from the `\boxed{}`. (The
synthetic tasks' own verifiers accept only a bare integer in <answer>.)

Filters (r1jax/rejection/filters.py registry):
- `readable` (transform): the rewrite; a sample already in the layout, or
  one without a closed think block and a final answer, is left unchanged;
- `readable_layout`: keeps samples in the layout (`is_readable`), e.g.
  after `readable`, so that none it could not rewrite reaches SFT.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np

from r1jax.rejection import filters
from r1jax.rewards import extract
from r1jax.rewards import format as format_lib
from r1jax.rewards import language as language_lib

# The sentence that states the final answer, per language (English for any
# other language).
ANSWER = {"en": "So the answer is \\boxed{{{a}}}.",
          "de": "Also ist die Antwort \\boxed{{{a}}}.",
          "zh": "所以答案是\\boxed{{{a}}}。"}
# A sentence ends at . ! ? followed by white space, or at a CJK full stop.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|\n+")
# "lhs=rhs" with an arithmetic lhs and an integer rhs (a worked step).
_EQUATION = re.compile(r"(?<![\d.])(-?\d+(?:\s*[-+*/]\s*-?\d+)+)\s*=\s*(-?\d+)"
                       r"(?!\.?\d)")
_LAYOUT = re.compile(r"(?P<open><think>\n)?(?P<cot>[^\n].*?)\n</think>\n"
                     r"<answer>\n(?P<summary>[^\n].*?)\n</answer>\s*",
                     re.DOTALL)


def sentences(cot: str) -> list[str]:
  """The sentences of a chain of thought, in order, stripped."""
  return [s.strip() for s in _SENTENCE_END.split(cot) if s.strip()]


def equations(cot: str) -> list[str]:
  """The chain's equations "lhs=rhs" in order; one that restates the lhs
  of the equation just before it (a check) replaces that one, so a
  corrected slip appears with its corrected value."""
  out: list[tuple[str, str]] = []
  for lhs, rhs in _EQUATION.findall(cot):
    lhs = re.sub(r"\s+", "", lhs)
    if out and out[-1][0] == lhs:
      out.pop()
    out.append((lhs, rhs))
  return [f"{lhs}={rhs}" for lhs, rhs in out]


# What the summary line holds: the chain's equations then the answer
# sentence, or the answer sentence alone.
SUMMARIES = ("equations", "answer")


def summary(cot: str, answer: str, lang: str, kind: str = "equations") -> str:
  """One line: the chain's equations (`kind` "equations"), then the answer
  sentence."""
  said = ANSWER.get(lang, ANSWER["en"]).format(a=answer)
  eqs = equations(cot) if kind == "equations" else []
  return f"{', '.join(eqs)}. {said}" if eqs else said


def target_language(sample: Mapping[str, Any], cot: str) -> str:
  """The sample's `lang`, else its prompt's language (as the language
  reward finds its target), else the chain's."""
  if sample.get("lang"):
    return str(sample["lang"])
  return language_lib.identify(str(sample.get("prompt") or cot))


def is_readable(text: str, think_opened: bool = False) -> bool:
  """Whether `text` is in the readable layout: the format reward's tags,
  each on its own line, one sentence per reasoning line, and a summary
  with words besides its `\\boxed{}` answer."""
  m = _LAYOUT.fullmatch(text.strip() + "\n")
  if (m is None or bool(m["open"]) == think_opened
      or not format_lib.is_formatted(text, think_opened)):
    return False
  if any(len(sentences(line)) != 1 for line in m["cot"].split("\n")):
    return False
  said = m["summary"]
  if extract.last_boxed(said) is None:
    return False
  return bool(language_lib.chunks(re.sub(r"\\boxed\{.*\}", "", said)))


def rewrite(text: str, think_opened: bool = False, lang: str = "en",
            kind: str = "equations") -> str:
  """`text` in the readable layout, its summary of `kind` (SUMMARIES);
  unchanged when it is already, or when it has no closed think block or no
  final answer to summarise."""
  if is_readable(text, think_opened):
    return text
  if extract.THINK_CLOSE not in text:
    return text
  answer = extract.extract_answer(text)
  cot = extract.think_section(text, think_opened)
  steps = sentences(cot)
  if answer is None or not steps:
    return text
  # An answer already boxed ("<answer> \boxed{x} </answer>") is boxed once.
  boxed = extract.last_boxed(answer)
  answer = answer if boxed is None else boxed.strip()
  said = summary(cot, answer, lang, kind)
  return ("" if think_opened else "<think>\n") + "\n".join(steps) \
      + f"\n</think>\n<answer>\n{said}\n</answer>"


@filters.register("readable", transform=True)
# pylint: disable-next=redefined-outer-name
def readable(samples: Sequence[Mapping[str, Any]],
             think_opened: bool = False,
             summary: str = "equations") -> list[str]:
  """Rewrites each text into R1's readable layout (`rewrite`), its
  summary in the sample's target language (`target_language`): the
  chain's equations and the answer sentence (`summary` "equations"), or
  the answer sentence alone ("answer")."""
  if summary not in SUMMARIES:
    raise ValueError(f"config.filter_options.readable.summary={summary!r}: "
                     f"one of {SUMMARIES}")
  out = []
  for s in samples:
    text = str(s["text"])
    lang = target_language(s, extract.think_section(text, think_opened))
    out.append(rewrite(text, think_opened, lang, summary))
  return out


@filters.register("readable_layout")
def readable_layout(samples: Sequence[Mapping[str, Any]],
                    think_opened: bool = False) -> np.ndarray:
  """Keeps texts in the readable layout (`is_readable`)."""
  return np.array([is_readable(str(s["text"]), think_opened)
                   for s in samples], bool)
