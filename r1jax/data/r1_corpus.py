"""`r1_base`: the R1 miniature's base corpus (`config.data.corpus`,
registered in `corpora`).

The R1-Zero demo's corpus (`corpora.r1_zero_base`) writes its chains as
bare equations; R1's stages need two more defects in the base model, both
of which R1-Zero is reported to keep [R1v1 2.3; R1v2 3]:
- LANGUAGE MIXING: the prompts are `multilingual_arithmetic`'s (English,
  German or Chinese, "think in <language>"), and each sentence of a
  non-English chain is written in English with probability `p_mix`; the
  English sentences slip less (`p_slip_en` < `p_slip`: English is the
  stronger language), so accuracy-only RL has a reason to keep or raise
  the mixing, and the language reward a small accuracy cost (R1's
  ablation [R1v2 B.6]);
- POOR READABILITY: the worked chain is one run-on line of sentences, and
  `<answer>` holds only the number: no summary for the reader.
The chains of thought are in words so that the language-consistency
reward (`rewards.language`, which ignores digits and symbols) has words to
count; a wordless CoT scores 0 there.

Every number here is ours (sized like the demo: ~1M-parameter model,
minutes on a CPU). Deterministic in the arguments.
"""
from __future__ import annotations

import random
from typing import Any

from r1jax.data import templates
from r1jax.data.tasks import arithmetic
from r1jax.data.tasks import general
from r1jax.data.tasks import multilingual

# Sentences per language. A sentence has at least 3 words (CJK: 3
# characters), so that the language reward identifies most of them on their
# own (rewards.language.word_languages: 3 words and a 10-nat margin).
PHRASES = {
    "en": dict(
        start="i start with the number {n}.",
        ops={"+": "now i add {k} to it, so {e}.",
             "-": "now i subtract {k} from it, so {e}.",
             "*": "now i multiply it by {k}, so {e}.",
             "/": "now i divide it by {k}, so {e}."},
        check="wait, let me check this again: {e}.",
        right="yes, that is correct.",
        wrong="oh, i made a mistake there.", answer="so the answer is {n}.",
        direct="i work out {x} all at once."),
    "de": dict(
        start="ich beginne mit der zahl {n}.",
        ops={"+": "jetzt addiere ich {k}, also {e}.",
             "-": "jetzt subtrahiere ich {k}, also {e}.",
             "*": "jetzt multipliziere ich mit {k}, also {e}.",
             "/": "jetzt teile ich durch {k}, also {e}."},
        check="moment, ich prüfe das noch einmal: {e}.",
        right="ja, das ist richtig.",
        wrong="ich habe mich verrechnet.", answer="also ist die antwort {n}.",
        direct="ich rechne {x} auf einmal."),
    "zh": dict(
        start="我从{n}开始。",
        ops={"+": "现在加{k}，所以{e}。", "-": "现在减去{k}，所以{e}。",
             "*": "现在乘以{k}，所以{e}。", "/": "现在除以{k}，所以{e}。"},
        check="等等，我检查一下：{e}。", right="这是对的。", wrong="我算错了。",
        answer="答案是{n}。", direct="我一次算出{x}。"),
}
STYLES = ("direct", "untagged", "worked")
_SLIPS = (-10, -2, -1, 1, 2, 10)


def _apply(op: str, a: int, b: int) -> int:
  return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]


def _say(rng, lang: str, p_mix: float) -> str:
  """The language of the next sentence: English w.p. `p_mix` when the
  target is not English, else the target."""
  return "en" if lang != "en" and rng.random() < p_mix else lang


def worked(rng, lang: str, start: int, steps, *, p_mix: float = 0.0,
           p_slip: float = 0.0, p_slip_en: float = 0.0, p_fix: float = 0.0,
           p_check: float = 0.0) -> tuple[str, int]:
  """A run-on chain of sentences (one line), each in `lang` or mixed into
  English (`p_mix`); (text, the chain's final value).

  A step's result is a slip (off by 1, 2 or 10) with probability `p_slip`,
  or `p_slip_en` when that sentence is English. After a slip the writer
  checks the step with probability `p_fix`, after a right result with
  `p_check`; a check finds the right value and the chain goes on from it,
  an unchecked slip is carried on to a wrong answer (as r1_zero_base).
  """
  parts = [PHRASES[_say(rng, lang, p_mix)]["start"].format(n=start)]
  value = start
  for op, operand in steps:
    say = PHRASES[_say(rng, lang, p_mix)]
    true = _apply(op, value, operand)
    slip = rng.random() < (p_slip_en if say is PHRASES["en"] else p_slip)
    written = true + rng.choice(_SLIPS) if slip else true
    lhs = f"{value}{op}{operand}="
    parts.append(say["ops"][op].format(k=operand, e=f"{lhs}{written}"))
    if rng.random() < (p_fix if slip else p_check):
      parts.append(say["check"].format(e=f"{lhs}{true}"))
      parts.append(say["wrong" if slip else "right"])
      written = true
    value = written
  return " ".join(parts), value


def response(rng, lang: str, start: int, steps, answer: int, style: str,
             *, p_mix: float = 0.0, **slips) -> str:
  """One response in `style` (see `r1_base`), written after the template;
  `slips` are `worked`'s slip and check probabilities."""
  if style == "direct":
    say = PHRASES[_say(rng, lang, p_mix)]
    x = arithmetic.chain_expression(start, steps)
    return (f"<think> {say['direct'].format(x=x)} </think> "
            f"<answer> {answer} </answer>")
  if style == "untagged":
    text, value = worked(rng, lang, start, steps, p_mix=p_mix)
    say = PHRASES[_say(rng, lang, p_mix)]
    return f"{text} {say['answer'].format(n=value)}"
  text, value = worked(rng, lang, start, steps, p_mix=p_mix, **slips)
  return f"<think> {text} </think> <answer> {value} </answer>"


def chain_key(task, seed: int, index: int) -> tuple:
  """The arithmetic problem of `task.generate(seed, index)` regardless of
  its language: (start, steps)."""
  start, steps, _ = arithmetic.make_chain(
      task.rng(seed, index), task.num_ops, task.max_operand,
      task.allow_division)
  return start, tuple(steps)


def r1_base(num_docs: int = 8000, seed: int = 100, template: str = "r1_zero",
            lang: str = "mixed", p_direct: float = 0.2,
            p_untagged: float = 0.2, p_mix: float = 0.5,
            p_slip: float = 0.15, p_slip_en: float = 0.05,
            p_fix: float = 0.5, p_check: float = 0.15, num_ops: int = 3,
            max_operand: int = 5, allow_division: bool = True,
            exclude_seed: int = -1, exclude_count: int = 0,
            p_general: float = 0.0,
            p_helpful: float = 0.5) -> list[dict[str, Any]]:
  """A multilingual, hard-to-read base model's pretraining text.

  `multilingual_arithmetic` problems (prompt language `lang`: en, de, zh
  or mixed) in `template`, each followed by one response:
  - direct (`p_direct`): `<think>` computes the expression "at once" in one
    sentence, then the answer tags (short and often wrong when imitated);
  - untagged (`p_untagged`): worked sentences, then "the answer is N." in
    words, no tags (format and accuracy rewards 0), no slips;
  - worked (the rest): `<think> sentences </think> <answer> N </answer>`
    on one line, slips and checks as in `worked`.
  Every sentence of a non-English response is English with probability
  `p_mix`. The problems of the task stream `exclude_seed` (its first
  `exclude_count`: the RL held-out prompts) are left out in every language.
  A fraction `p_general` of the documents are `general_chat` requests
  (tasks.general; same language mix) answered helpfully with probability
  `p_helpful`, else in one of its unhelpful styles: general prompts the
  base half knows how to serve, for a reward model to improve on; their
  positions among the arithmetic documents are drawn, and with
  `p_general` 0 the corpus is the same as without it.
  Records: {"text", "lang" (the prompt's), "style" ("general/<style>" for
  general documents)}.
  """
  for name, p in (("p_direct", p_direct), ("p_untagged", p_untagged),
                  ("p_mix", p_mix), ("p_slip", p_slip),
                  ("p_slip_en", p_slip_en), ("p_fix", p_fix),
                  ("p_check", p_check), ("p_general", p_general),
                  ("p_helpful", p_helpful)):
    if not 0.0 <= p <= 1.0:
      raise ValueError(f"r1_base: {name}={p!r} is not a probability")
  if p_direct + p_untagged > 1.0:
    raise ValueError(f"r1_base: p_direct + p_untagged = "
                     f"{p_direct + p_untagged} > 1")
  task = multilingual.MultilingualArithmetic(
      num_ops=num_ops, max_operand=max_operand,
      allow_division=allow_division, lang=lang)
  held_out = {chain_key(task, exclude_seed, i) for i in range(exclude_count)}
  coins = dict(p_mix=p_mix, p_slip=p_slip, p_slip_en=p_slip_en, p_fix=p_fix,
               p_check=p_check)
  num_general = int(round(num_docs * p_general))
  docs, i = [], 0
  while len(docs) < num_docs - num_general:
    ex = task.generate(seed, i)
    start, steps = chain_key(task, seed, i)
    rng = random.Random(f"r1_base/{seed}/{i}")  # the response's coins
    i += 1
    if (start, steps) in held_out:
      continue
    u = rng.random()
    style = ("direct" if u < p_direct else
             "untagged" if u < p_direct + p_untagged else "worked")
    body = response(rng, ex["lang"], start, steps, int(ex["answer"]), style,
                    **coins)
    docs.append({"text": templates.render(template, ex["prompt"]) + " "
                         + body, "lang": ex["lang"], "style": style})
  if num_general:
    docs = _mix_in(docs, _general_docs(num_general, seed, template, lang,
                                       p_helpful), seed)
  return docs


def _general_docs(count: int, seed: int, template: str, lang: str,
                  p_helpful: float) -> list[dict[str, Any]]:
  task = general.GeneralChat(lang=lang)
  out = []
  for j in range(count):
    ex = task.generate(seed, j)
    rng = random.Random(f"r1_base/general/{seed}/{j}")
    style = ("helpful" if rng.random() < p_helpful
             else rng.choice(general.STYLES[1:]))
    out.append({"text": templates.render(template, ex["prompt"]) + " "
                        + general.response(rng, ex, style),
                "lang": ex["lang"], "style": f"general/{style}"})
  return out


def _mix_in(docs: list, extra: list, seed: int) -> list:
  """`docs` with `extra` at drawn positions, both in their own order."""
  rng = random.Random(f"r1_base/mix/{seed}")
  is_extra = [True] * len(extra) + [False] * len(docs)
  rng.shuffle(is_extra)
  a, b = iter(docs), iter(extra)
  return [next(b) if e else next(a) for e in is_extra]
