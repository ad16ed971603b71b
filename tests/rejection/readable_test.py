r"""The `readable` transform: R1-Zero samples into R1's cold-start layout.

Expected rewrites are written by hand from the layout configs/r1.py gives
for cold-start completions ("reasoning\n</think>\n<answer>\nsummary, final
answer in \boxed{}\n</answer>"); the checks on them are the project's own
judges (the `summary` filter, the format reward, math-verify).
"""

from absl.testing import absltest

from configs import generate as generate_config
from r1jax.data import templates
from r1jax.rejection import chain
from r1jax.rejection import filters
from r1jax.rejection import readable
from r1jax.rejection import traces
from r1jax.rewards import extract
from r1jax.rewards import format as format_lib
from r1jax.rewards import math_check
from r1jax.rewards import registry

# A German-prompt R1-Zero sample: one run-on line, a step in English, a
# slip (5*3=14) that a check corrects, the bare answer in <answer>.
DE = (" <think> ich beginne mit der zahl 3. jetzt addiere ich 2, also "
      "3+2=5. jetzt multipliziere ich mit 3, also 5*3=14. moment, ich "
      "prüfe das noch einmal: 5*3=15. ich habe mich verrechnet. now i "
      "subtract 8 from it, so 15-8=7. </think> <answer> 7 </answer>")
DE_READABLE = (
    "<think>\n"
    "ich beginne mit der zahl 3.\n"
    "jetzt addiere ich 2, also 3+2=5.\n"
    "jetzt multipliziere ich mit 3, also 5*3=14.\n"
    "moment, ich prüfe das noch einmal: 5*3=15.\n"
    "ich habe mich verrechnet.\n"
    "now i subtract 8 from it, so 15-8=7.\n"
    "</think>\n"
    "<answer>\n"
    "3+2=5, 5*3=15, 15-8=7. Also ist die Antwort \\boxed{7}.\n"
    "</answer>")
ZH_PROMPT = ("从4开始，减去6，乘以2。结果是多少？请用中文思考。"
             "最终答案是一个整数。")
ZH = ("<think> 我从4开始。 现在减去6，所以4-6=-2。 现在乘以2，所以-2*2=-4。 "
      "</think> <answer> -4 </answer>")
ZH_READABLE = ("<think>\n我从4开始。\n现在减去6，所以4-6=-2。\n"
               "现在乘以2，所以-2*2=-4。\n</think>\n<answer>\n"
               "4-6=-2, -2*2=-4. 所以答案是\\boxed{-4}。\n</answer>")
# A maths sample in prose, its answer already boxed inside the tags.
PROSE = ("<think>Half of the 3 cakes is what each friend gets? No wait, "
         "each of 2 friends gets 3/2 of a cake! So it is three halves."
         "</think> <answer>\\boxed{\\frac{3}{2}}</answer>")
PROSE_READABLE = ("<think>\nHalf of the 3 cakes is what each friend gets?\n"
                  "No wait, each of 2 friends gets 3/2 of a cake!\n"
                  "So it is three halves.\n</think>\n<answer>\n"
                  "So the answer is \\boxed{\\frac{3}{2}}.\n</answer>")


def _rewrite(text, think_opened=False, **fields):
  return readable.readable([dict(text=text, **fields)], think_opened)[0]


def _format(texts, think_opened=False):
  batch = registry.RewardBatch(list(texts), [{} for _ in texts])
  return list(format_lib.format_reward(batch, think_opened).values_B)


class RewriteTest(absltest.TestCase):

  def test_hand_written_rewrites(self):
    self.assertEqual(_rewrite(DE, lang="de"), DE_READABLE)
    # No `lang`: the prompt's language (as the language reward finds it).
    self.assertEqual(_rewrite(ZH, prompt=ZH_PROMPT), ZH_READABLE)
    self.assertEqual(_rewrite(PROSE, prompt="How much cake?"),
                     PROSE_READABLE)

  def test_answer_only_summary(self):
    # `summary="answer"`: the conclusion alone, nothing to copy but the
    # answer; still the readable layout, and the answer is kept.
    out = readable.readable([dict(text=DE, lang="de")], summary="answer")[0]
    self.assertEqual(out, DE_READABLE.replace(
        "3+2=5, 5*3=15, 15-8=7. Also", "Also"))
    self.assertTrue(readable.is_readable(out))
    self.assertTrue(math_check.check_math(extract.extract_answer(out), "7"))
    out, _ = chain.apply([dict(completion=ZH, prompt=ZH_PROMPT)],
                         ("readable",), {"readable": {"summary": "answer"}},
                         think_opened=False)
    self.assertTrue(out[0]["text"].endswith(
        "</think>\n<answer>\n所以答案是\\boxed{-4}。\n</answer>"))
    with self.assertRaisesRegex(ValueError,
                                "filter_options.readable.summary='short'"):
      chain.validate(("readable",), {"readable": {"summary": "short"}})

  def test_think_opened_sample_stays_open(self):
    # Sampled after r1_chat's "<think>\n": the text has no <think>.
    opened = DE.replace(" <think> ", "")
    out = _rewrite(opened, think_opened=True, lang="de")
    self.assertEqual(out, DE_READABLE[len("<think>\n"):])
    self.assertEqual(_format([out], think_opened=True), [1.0])

  def test_judges_pass_the_rewrite_and_the_answer_is_kept(self):
    cases = [(DE, "de", "7"), (ZH, "zh", "-4"), (PROSE, "en", "3/2")]
    outs = [_rewrite(t, lang=lang) for t, lang, _ in cases]
    self.assertEqual(_format(outs), [1.0, 1.0, 1.0])
    samples = [{"text": t} for t in outs]
    self.assertEqual(list(filters.summary(samples)), [True] * 3)
    self.assertEqual(list(readable.readable_layout(samples)), [True] * 3)
    for out, (text, _, gold) in zip(outs, cases):
      self.assertTrue(math_check.check_math(extract.extract_answer(out),
                                            gold), out)
      self.assertFalse(math_check.check_math(extract.extract_answer(out),
                                             gold + "1"), out)
      # The reasoning's words are the sample's, in order.
      self.assertEqual(extract.think_section(out).split(),
                       extract.think_section(text).split())

  def test_summary_filter_alone_passes_r1_zero_text(self):
    # Why `readable_layout` exists: `summary` takes R1-Zero's bare answer
    # for a summary.
    self.assertTrue(filters.has_summary(DE))
    self.assertFalse(readable.is_readable(DE))
    self.assertEqual(_format([DE]), [1.0])

  def test_readable_text_is_unchanged_and_rewrite_idempotent(self):
    for text, lang in ((DE, "de"), (ZH, "zh"), (PROSE, "en")):
      once = _rewrite(text, lang=lang)
      self.assertEqual(_rewrite(once, lang=lang), once)
    # Written readable by someone else (its own summary): left alone.
    other = ("<think>\nI add 2 and 3.\nThat makes 5.\n</think>\n<answer>\n"
             "Adding gives \\boxed{5}.\n</answer>")
    self.assertTrue(readable.is_readable(other))
    self.assertEqual(_rewrite(other, lang="en"), other)

  def test_unrewritable_text_is_left_and_rejected_by_layout(self):
    untagged = "i start with 3. now i add 2, so 3+2=5. so the answer is 5."
    truncated = "<think> i start with 3. now i add 2, so"
    empty = "<think> </think> <answer> 5 </answer>"
    texts = [untagged, truncated, empty]
    self.assertEqual([_rewrite(t, lang="en") for t in texts], texts)
    self.assertEqual(
        list(readable.readable_layout([{"text": t} for t in texts])),
        [False] * 3)

  def test_is_readable_rejects_near_misses(self):
    two_per_line = DE_READABLE.replace(".\njetzt addiere", ". jetzt addiere")
    bare_summary = DE_READABLE.replace(
        "3+2=5, 5*3=15, 15-8=7. Also ist die Antwort \\boxed{7}.", "7")
    only_box = DE_READABLE.replace(
        "3+2=5, 5*3=15, 15-8=7. Also ist die Antwort \\boxed{7}.",
        "\\boxed{7}")
    one_line = DE_READABLE.replace("\n</think>\n", " </think> ")
    for text in (two_per_line, bare_summary, only_box, one_line):
      self.assertFalse(readable.is_readable(text), text)
    self.assertFalse(readable.is_readable(DE_READABLE, think_opened=True))

  def test_equations_keep_the_corrected_value(self):
    self.assertEqual(readable.equations(
        "so 5*3=14. check: 5*3=15. 所以15-8=7。 2.5+1=3.5 -2*2=-4."),
        ["5*3=15", "15-8=7", "-2*2=-4"])
    # A step repeated later (not a check of the one before) is kept.
    self.assertEqual(readable.equations("2*1=2. 2+1=3. 3-1=2. 2*1=2."),
                     ["2*1=2", "2+1=3", "3-1=2", "2*1=2"])


class ChainTest(absltest.TestCase):

  def test_cold_start_chain_and_sft_hand_off(self):
    english = "now i subtract 8 from it, so"
    pure = DE.replace(english, "jetzt subtrahiere ich 8, also")
    row = lambda text, ok: dict(completion=text, correct=ok, lang="de",
                                prompt="Beginne mit 3.")
    # The last: its one English sentence makes its language reward 0.8.
    samples = [row(pure, True),
               row(pure.replace("7 </answer>", "8 </answer>"), False),
               row(DE, True)]
    names = ("correct", "language", "repetition", "readable",
             "readable_layout")
    self.assertTrue(filters.get("readable").transform)
    chain.validate(names, {})
    out, counts = chain.apply(samples, names, {}, think_opened=False)
    self.assertEqual([s["rejected_by"] for s in out],
                     [None, "correct", "language"])
    expected = DE_READABLE.replace(english, "jetzt subtrahiere ich 8, also")
    self.assertEqual(out[0]["text"], expected)
    self.assertEqual(counts["kept"], 1)
    # As generate writes sft.jsonl for an r1_chat student.
    comp = traces.for_target(
        traces.trace(out[0]["text"], templates.make_prompter("r1_zero")),
        templates.make_prompter("r1_chat"))
    self.assertEqual(comp, expected[len("<think>\n"):])
    self.assertTrue(format_lib.is_formatted(comp, think_opened=True))
    self.assertTrue(filters.has_summary(comp, think_opened=True))

  def test_generate_cold_start_variant(self):
    c = generate_config.get_config("cold_start")
    chain.validate(c.filters, c.filter_options)
    f = list(c.filters)
    # Rewritten after the checks on the sample as sampled, and checked.
    for name in ("correct", "language", "repetition"):
      self.assertLess(f.index(name), f.index("readable"))
    self.assertEqual(f.index("readable_layout"), f.index("readable") + 1)
    self.assertEqual((c.prompts.temperature, c.target.template),
                     (1.0, "r1_chat"))


if __name__ == "__main__":
  absltest.main()
