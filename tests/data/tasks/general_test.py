"""`general_chat`: the gold rule on hand-written replies, the prompts, the
preference pairs, and the general documents `r1_base` mixes in."""
import collections
import re

import numpy as np
import pytest

from r1jax.data import corpora
from r1jax.data import preferences as prefs
from r1jax.data import tasks
from r1jax.data.tasks import general

ANNA_GREET = {"lang": "en", "kind": "greet", "name": "anna"}


@pytest.mark.parametrize("text, ok", [
    ("hello anna, how are you?", True),
    ("Hello Anna!", True),               # case does not matter
    ("hello ben, how are you?", False),  # the wrong person
    ("thank you, anna.", False),         # the wrong act
    ("hello anna, and thank you.", False),  # another act's phrase too
    ("i am not sure what to write.", False),
    ("", False), (None, False),
])
def test_gold_rule_on_hand_written_english(text, ok):
  assert general.helpful(text, ANNA_GREET) is ok


def test_gold_rule_in_german_and_chinese():
  de = {"lang": "de", "kind": "farewell", "name": "ben"}
  assert general.helpful("auf wiedersehen ben!", de)
  assert not general.helpful("goodbye ben!", de)  # not in German
  assert not general.helpful("hallo ben!", de)
  zh = {"lang": "zh", "kind": "thank", "name": "rosa"}
  assert general.helpful("谢谢你，rosa。", zh)
  assert not general.helpful("rosa，你好。", zh)


def test_examples_are_deterministic_general_and_spread():
  task = tasks.get("general_chat")
  a, b = task.examples(0, 0, 600), task.examples(0, 0, 600)
  assert a == b and a != task.examples(1, 0, 600)
  for e in a:
    assert e["source"] == "general" and e["answer"] == ""
    assert e["name"].capitalize() in e["prompt"]
    # The prompt's language: Chinese prompts are in Han script.
    assert bool(re.search(r"[\u4e00-\u9fff]", e["prompt"])) == (
        e["lang"] == "zh")
  # Languages and acts drawn uniformly: chi-square, 2 d.o.f., p > 0.001.
  for field in ("lang", "kind"):
    counts = np.array(list(collections.Counter(e[field] for e in a)
                           .values()))
    assert len(counts) == 3
    assert ((counts - 200) ** 2 / 200).sum() < 13.8, (field, counts)
  assert {e["lang"] for e in tasks.get("general_chat", lang="de")
          .examples(0, 0, 20)} == {"de"}
  with pytest.raises(ValueError, match="lang='fr'"):
    tasks.get("general_chat", lang="fr")


def _answer(text):
  """The last <answer> of `text` (a rendered R1-Zero prompt names the tags
  too)."""
  return text.rsplit("<answer>", 1)[1].split("</answer>")[0]


def test_preference_pairs_prefer_what_the_rule_calls_helpful():
  pairs = prefs.synthetic("general_chat", num_prompts=300, seed=3)
  examples = tasks.get("general_chat").examples(3, 0, 300)
  assert [p.prompt for p in pairs] == [e["prompt"] for e in examples]
  styles = collections.Counter()
  for p, e in zip(pairs, examples):
    assert general.helpful(_answer(p.chosen), e)
    assert not general.helpful(_answer(p.rejected), e)
    bad = _answer(p.rejected).lower()
    styles["wrong_name" if e["name"] not in bad else
           "unsure" if all(k not in bad for k in general.KEY[e["lang"]]
                           .values()) else "wrong_kind"] += 1
  assert set(styles) == {"unsure", "wrong_kind", "wrong_name"}
  labelled = prefs.synthetic("general_chat", num_prompts=4, pairwise=False)
  assert [r.label for r in labelled] == [1, 0] * 4


def test_r1_base_mixes_in_general_requests_half_served():
  n, frac = 2000, 0.2
  plain = corpora.get("r1_base", num_docs=n)
  assert corpora.get("r1_base", num_docs=n, p_general=0.0) == plain
  mixed = corpora.get("r1_base", num_docs=n, p_general=frac)
  assert len(mixed) == n
  gen = [d for d in mixed if d["style"].startswith("general/")]
  assert len(gen) == round(n * frac)
  # The arithmetic documents are the plain corpus's, in its order.
  assert [d for d in mixed if d not in gen] == plain[:n - len(gen)]
  # Spread through the corpus, not appended: each half holds some.
  first = sum(d["style"].startswith("general/") for d in mixed[:n // 2])
  assert 0.4 * len(gen) < first < 0.6 * len(gen)
  # Helpful about half the time, judged by the gold rule on the text.
  ok = []
  for d in gen:
    q = re.search(r"User: (.*?)\. Assistant:", d["text"]).group(1)
    name = next(x for x in general.NAMES if x.capitalize() in q)
    e = next(e for e in tasks.get("general_chat").examples(100, 0, len(gen))
             if e["prompt"] == q and e["name"] == name)
    ok.append(general.helpful(_answer(d["text"]), e))
    assert ok[-1] == (d["style"] == "general/helpful")
  p = np.mean(ok)
  assert abs(p - 0.5) < 3 * np.sqrt(0.25 / len(ok)), p


def test_all_scenarios_mixes_sources_and_checks_each_by_its_task():
  t = tasks.get("all_scenarios", num_ops=3, max_operand=5,
                allow_division=True, general_frac=0.3)
  ex = t.examples(0, 0, 1000)
  gen = [e for e in ex if e["source"] == "general"]
  math = [e for e in ex if e["source"] == "reasoning"]
  assert len(gen) + len(math) == 1000
  # Binomial(1000, 0.3): within 4 standard errors.
  assert abs(len(gen) - 300) < 4 * np.sqrt(1000 * 0.3 * 0.7)
  assert {e["task"] for e in gen} == {"general_chat"}
  assert {e["task"] for e in math} == {"multilingual_arithmetic"}
  # A reasoning example's answer is the chain's value, re-derived here
  # from the English prompt's words; checked by multilingual_arithmetic.
  ops = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
         "multiply by": lambda a, b: a * b, "divide by": lambda a, b: a // b}
  for e in [e for e in math if e["lang"] == "en"][:50]:
    v = int(re.match(r"Start with (\d+)", e["prompt"]).group(1))
    for word, n in re.findall(r"(add|subtract|multiply by|divide by) (\d+)",
                              e["prompt"]):
      v = ops[word](v, int(n))
    assert e["answer"] == str(v)
    assert t.verify(str(v), e) and not t.verify(str(v + 1), e)
  g = gen[0]
  assert t.verify(f"{general.KEY[g['lang']][g['kind']]} {g['name']}", g)
  assert not t.verify(g["answer"], g)  # the empty reference is no reply
  with pytest.raises(ValueError, match="general_frac=1.5"):
    tasks.get("all_scenarios", general_frac=1.5)
