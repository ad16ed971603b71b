"""Host metrics of rollouts: the advantage GRPO gives reflecting rollouts."""
import numpy as np

from r1jax.trainers import rl_data


def test_reflection_advantage_is_the_reflecting_rows_group_advantage():
  # Two groups of 4: in the first the one checked answer is the only right
  # one; in the second the checked answer is wrong and three are right.
  texts = ["<think> 1+1=2. wait, let me check: 2-1=1. correct. </think>",
           "<think> 1+1=3. </think>", "<think> 1+1=3. </think>",
           "<think> 1+1=3. </think>",
           "<think> 2+2=5. wait, that is wrong </think>",
           "<think> 2+2=4. </think>", "<think> 2+2=4. </think>",
           "<think> 2+2=4. </think>"]
  reward = [2, 1, 1, 1, 1, 2, 2, 2]
  # Hand-derived: group 1 mean 1.25, population std sqrt(3)/4; the checked
  # row's advantage 0.75 / 0.4330 = +1.7321; group 2's -1.7321.
  m = rl_data.text_metrics(texts, False, reward, 4)
  np.testing.assert_allclose(m["reflection/advantage"], 0.0, atol=1e-5)
  m = rl_data.text_metrics(texts[:4], False, reward[:4], 4)
  np.testing.assert_allclose(m["reflection/advantage"], np.sqrt(3),
                             rtol=1e-5)
  m = rl_data.text_metrics(texts[4:], False, reward[4:], 4)
  np.testing.assert_allclose(m["reflection/advantage"], -np.sqrt(3),
                             rtol=1e-5)
  # Reflective words outside <think> do not count; none: no metric.
  assert "reflection/advantage" not in rl_data.text_metrics(
      ["<think> 1+1=2. </think> wait", "<think> x </think>"], False,
      [1, 0], 2)
