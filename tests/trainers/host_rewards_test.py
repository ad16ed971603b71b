"""score_rollout on one process with 8 devices: the totals and metrics of
compute_rewards over all rows; completions that end in EOS keep format."""
import numpy as np
import pytest

from r1jax import sharding as shd
from r1jax.rewards import total as reward_total
from r1jax.trainers import host_rewards, rl_data
from tests.trainers import util


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
  return util.hf_tokenizer(str(tmp_path_factory.mktemp("hf")))


def test_score_rollout_equals_compute_rewards_on_all_rows(tok):
  mesh = shd.make_mesh((2, 2, 2))
  texts, examples, eos = util.reward_cases()
  comp, host = util.rollout(tok, texts, eos, mesh)
  options = reward_total.default_reward_options().to_dict()
  options["accuracy"]["num_workers"] = 1
  total_B, metrics = host_rewards.score_rollout(
      tok, comp, examples, util.REWARD_WEIGHTS, options, think_opened=False)

  want_B, want, batch = util.all_rows_reference(tok, host, examples,
                                                options)
  assert total_B.dtype == np.float32
  np.testing.assert_array_equal(total_B, want_B)
  assert metrics == want
  # Rows scored by math-verify (\frac{1}{2}, 0.5), the task and choices.
  np.testing.assert_array_equal(batch.cache["accuracy"].values_B,
                                [1, 0, 1, 1, 1, 1, 0, 0] * 2)
  assert metrics["reward/format"] > 0 and metrics["reward/reflection"] > 0


def test_completion_ending_in_eos_keeps_format(tok):
  mesh = shd.make_mesh((2, 2, 2))
  done = "<think> 12 + 30 = 42 </think> <answer> 42 </answer>"
  ids = tok.encode(done)
  assert tok.decode(ids + [tok.eos_id]).endswith("<|im_end|>")
  comp, _ = util.rollout(tok, [done, done, "<think> 4", done] * 2,
                         [True, True, False, False] * 2, mesh)
  ex = [{"prompt": "12 + 30", "answer": "42", "task": "arithmetic"}] * 8
  total_B, metrics = host_rewards.score_rollout(
      tok, comp, ex, {"format": 1.0, "accuracy": 1.0}, None,
      think_opened=False)
  np.testing.assert_array_equal(total_B, [2, 2, 0, 2] * 2)
  assert metrics["reward/format"] == 0.75


def test_row_owners_one_process():
  mesh = shd.make_mesh((2, 2, 2))
  x = rl_data.place(np.zeros((8, 3), np.int32), mesh, ("act_batch", None))
  np.testing.assert_array_equal(host_rewards.row_owners(x, np.zeros(8)),
                                np.zeros(8))
  with pytest.raises(ValueError, match="examples_B has 3 examples for 8"):
    host_rewards.score_rollout(None, util.Rollout(x, x[:, 0], x[:, 0]),
                               [{}] * 3, {}, None, think_opened=False)


def test_unscored_rows_become_nan_for_the_step():
  """A weighted reward's NaN (a program the sandbox could not run) makes
  the row's total NaN, which the RL step leaves out of the loss; a reward
  at weight 0 or a reward model's missing verdict does not."""
  total = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
  parts = {"accuracy": np.array([1.0, np.nan, 0.0, 1.0], np.float32),
           "reflection": np.array([np.nan, 0.0, 0.0, 0.0], np.float32),
           "rm": np.array([0.0, 0.0, np.nan, 0.0], np.float32)}
  got = host_rewards.unscored(total, parts, {"accuracy": 1.0, "rm": 1.0},
                              models=("rm",))
  np.testing.assert_array_equal(np.isnan(got), [False, True, False, False])
  np.testing.assert_array_equal(got[[0, 2, 3]], [1.0, 3.0, 4.0])
