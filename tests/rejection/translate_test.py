"""The `translate` transform: mixed-language R1-Zero chains put back into
the prompt's language.

References: hand-written translations, and the corpus itself: a chain the
corpus writes with language mixing (`p_mix`) and the chain it writes from
the same coins without mixing (equal slip rates, so the coins are drawn
alike) say the same steps, one of them in one language only.
"""
import random

from absl.testing import absltest
from absl.testing import parameterized

from configs import generate as generate_config
from r1jax.data import r1_corpus
from r1jax.data.tasks import arithmetic
from r1jax.rejection import chain
from r1jax.rejection import translate

# A German-prompt R1-Zero sample with two English sentences and a slip
# that an English check corrects.
DE_MIXED = ("<think> ich beginne mit der zahl 3. now i add 2 to it, so 3+2=5. "
            "jetzt multipliziere ich mit 3, also 5*3=14. wait, let me check "
            "this again: 5*3=15. oh, i made a mistake there. now i subtract 8 "
            "from it, so 15-8=7. </think> <answer> 7 </answer>")
DE_PURE = ("<think> ich beginne mit der zahl 3. jetzt addiere ich 2, also "
           "3+2=5. jetzt multipliziere ich mit 3, also 5*3=14. moment, ich "
           "prüfe das noch einmal: 5*3=15. ich habe mich verrechnet. jetzt "
           "subtrahiere ich 8, also 15-8=7. </think> <answer> 7 </answer>")
ZH_MIXED = ("<think> i start with the number -4. 现在乘以2，所以-4*2=-8。 "
            "now i divide it by 4, so -8/4=-2. </think> <answer> -2 </answer>")
ZH_PURE = ("<think> 我从-4开始。 现在乘以2，所以-4*2=-8。 "
           "现在除以4，所以-8/4=-2。 </think> <answer> -2 </answer>")
DIRECT_EN = ("<think> i work out (3 + 2) * 3 all at once. </think> "
             "<answer> 15 </answer>")
DIRECT_ZH = "<think> 我一次算出(3 + 2) * 3。 </think> <answer> 15 </answer>"


def _mixed_and_pure(seed, lang, style):
  """The corpus's response to a drawn problem with and without mixing."""
  rng = random.Random(f"translate_test/{seed}")
  start, steps, answer = arithmetic.make_chain(rng, 3, 5, True)
  coins = dict(p_slip=0.3, p_slip_en=0.3, p_fix=0.5, p_check=0.3)
  mixed = r1_corpus.response(random.Random(seed), lang, start, steps, answer,
                             style, p_mix=0.5, **coins)
  pure = r1_corpus.response(random.Random(seed), lang, start, steps, answer,
                            style, p_mix=0.0, **coins)
  return mixed, pure


class TranslateTest(parameterized.TestCase):

  def test_hand_written(self):
    self.assertEqual(translate.translate_text(DE_MIXED, "de"), DE_PURE)
    self.assertEqual(translate.translate_text(ZH_MIXED, "zh"), ZH_PURE)
    self.assertEqual(translate.translate_text(DIRECT_EN, "zh"), DIRECT_ZH)
    # Into English too, and a pure chain is left as it is.
    self.assertEqual(translate.translate_text(DIRECT_ZH, "en"), DIRECT_EN)
    self.assertEqual(translate.translate_text(DE_PURE, "de"), DE_PURE)

  @parameterized.product(lang=("de", "zh"), style=("worked", "direct"))
  def test_equals_the_corpus_unmixed_chain(self, lang, style):
    changed = 0
    for seed in range(40):
      mixed, pure = _mixed_and_pure(seed, lang, style)
      self.assertEqual(translate.translate_text(mixed, lang), pure)
      changed += mixed != pure
    self.assertGreater(changed, 10)  # the coins did mix some

  def test_only_the_think_section_changes(self):
    text = DE_MIXED.replace("<answer> 7 </answer>",
                            "<answer> now i add 2 to it, so 3+2=5. </answer>")
    out = translate.translate_text(text, "de")
    self.assertTrue(out.endswith("<answer> now i add 2 to it, so 3+2=5. "
                                 "</answer>"), out)
    # Prompt opened <think> (r1_chat): the section runs from the start.
    opened = DE_MIXED.replace("<think> ", "")
    self.assertEqual(translate.translate_text(opened, "de",
                                              think_opened=True),
                     DE_PURE.replace("<think> ", ""))

  def test_cold_start_chain_keeps_repaired_and_rejects_the_rest(self):
    broken = DE_MIXED.replace("now i add 2 to it", "now i ad 2 to it")
    samples = [dict(completion=t, correct=True, lang="de", id=str(i))
               for i, t in enumerate((DE_MIXED, broken, DE_PURE))]
    names = ("correct", "translate", "language")
    out, counts = chain.apply(samples, names, {}, think_opened=False)
    self.assertEqual([s["rejected_by"] for s in out],
                     [None, "language", None])
    self.assertEqual(counts["transformed"]["translate"], 2)
    self.assertEqual(out[0]["text"], DE_PURE)
    # The config's chain repairs before it filters.
    f = generate_config.COLD_START_FILTERS
    self.assertLess(f.index("translate"), f.index("language"))


if __name__ == "__main__":
  absltest.main()
