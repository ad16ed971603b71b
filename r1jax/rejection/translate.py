r"""`translate`: the cold-start refinement's language repair, in miniature.

R1's cold-start data [R1v2 B.3.2] are R1-Zero's correct samples "refined
with DeepSeek-V3" into a readable, human-friendly form: an LLM rewriter
can also put a chain that drifted into English back into the prompt's
language. The R1 miniature has no such rewriter; its base model writes
from a fixed set of sentence templates per language (`r1_corpus.PHRASES`:
"now i add 2 to it, so 3+2=5." / "jetzt addiere ich 2, also 3+2=5." /
"现在加2，所以3+2=5。"), so a rule can do the same repair exactly: every
sentence of the chain of thought that is one of another language's
templates is rewritten as the target language's template with the same
numbers and equations. Anything else is left as written, so the
`language` filter after it still rejects a chain the rule could not
repair.

Without it, the miniature's cold-start data keep only the chains R1-Zero
happened to write in one language: at 2521579 (seed 0) 1,287 English,
125 German and 58 Chinese rows of 1,470, and the cold-start model's
held-out pass@1 on Chinese prompts fell to 0.13 (R1-Zero: 0.68).

Registered as a transform (r1jax/rejection/filters.py): it changes
`text`, rejects nothing. The target language is the sample's `lang`, else
its prompt's (`readable.target_language`).
"""

from __future__ import annotations

import functools
import re
import string
from typing import Any, Mapping, Sequence

from r1jax.data import r1_corpus
from r1jax.rejection import filters
from r1jax.rejection import readable
from r1jax.rewards import extract

# What a template's fields hold: an integer, an equation ("3+2=5"), an
# expression ("(3 + 2) * 3", the direct style's).
_FIELD = {"n": r"-?\d+", "k": r"-?\d+", "e": r"[-+*/=\d]+",
          "x": r"[-+*/()\d ]+?"}


def _templates(lang: str) -> dict[str, str]:
  """`PHRASES[lang]` flattened: {key: template} (ops as "op+", ...)."""
  p = r1_corpus.PHRASES[lang]
  out = {k: v for k, v in p.items() if k != "ops"}
  out.update({f"op{op}": v for op, v in p["ops"].items()})
  return out


def _pattern(template: str) -> str:
  """A regex matching `template` with its fields as named groups."""
  out = []
  for literal, field, _, _ in string.Formatter().parse(template):
    out.append(re.escape(literal))
    if field is not None:
      out.append(f"(?P<{field}>{_FIELD[field]})")
  return "".join(out)


@functools.lru_cache(maxsize=None)
def _rules(target: str) -> tuple[tuple[re.Pattern, str], ...]:
  """(pattern of another language's template, the target's template)."""
  want = _templates(target)
  rules = []
  for lang in r1_corpus.PHRASES:
    if lang == target:
      continue
    for key, template in _templates(lang).items():
      if key in want:
        rules.append((re.compile(_pattern(template)), want[key]))
  return tuple(rules)


def translate(cot: str, target: str) -> str:
  """`cot` with every other-language template sentence in `target`'s."""
  if target not in r1_corpus.PHRASES:
    return cot
  for pattern, template in _rules(target):
    cot = pattern.sub(lambda m, t=template: t.format(**m.groupdict()), cot)
  return cot


def translate_text(text: str, target: str, think_opened: bool = False) -> str:
  """`text` with its think section translated; unchanged without one."""
  cot = extract.think_section(text, think_opened)
  if not cot.strip():
    return text
  new = translate(cot, target)
  return text if new == cot else text.replace(cot, new, 1)


@filters.register("translate", transform=True)
def translate_filter(samples: Sequence[Mapping[str, Any]],
                     think_opened: bool = False) -> list[str]:
  """Rewrites other-language template sentences of each chain of thought
  into the sample's target language (`translate`)."""
  out = []
  for s in samples:
    text = str(s["text"])
    lang = readable.target_language(s, extract.think_section(text,
                                                             think_opened))
    out.append(translate_text(text, lang, think_opened))
  return out
