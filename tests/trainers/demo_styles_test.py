"""experiments/demo_styles.py sorts answers into the corpus's styles (the
formats r1jax.data.corpora.r1_zero_base writes) and tallies them."""
import pytest

from experiments import demo_styles


@pytest.mark.parametrize("text,want", [
    ("<think> 1*5=5. 5-2=3. </think> <answer> 3 </answer>", "worked"),
    ("<think> 5+2=7. 7-4=1. wait, let me check: 5-4=1. correct. </think> "
     "<answer> 1 </answer>", "checked"),
    ("<think> (3 + 4) * 1 </think> <answer> 18 </answer>", "direct"),
    ("1*5=5. 5-2=3. the answer is 3.", "untagged"),
])
def test_style_of_each_corpus_format(text, want):
  assert demo_styles.style(text) == want


def test_by_style_shares_and_accuracies():
  samples = [{"texts": ["<think> 1+1=2. </think> <answer> 2 </answer>",
                        "<think> 1 + 1 </think> <answer> 3 </answer>"],
              "correct": [True, False]},
             {"texts": ["<think> 2+2=4. </think> <answer> 5 </answer>",
                        "the answer is 4."], "correct": [False, False]}]
  got = demo_styles.by_style(samples)
  assert got["worked"] == {"share": 0.5, "accuracy": 0.5}
  assert got["direct"] == {"share": 0.25, "accuracy": 0.0}
  assert got["untagged"] == {"share": 0.25, "accuracy": 0.0}
  assert got["checked"] == {"share": 0.0, "accuracy": None}
  assert got["pass@1"] == 0.25
