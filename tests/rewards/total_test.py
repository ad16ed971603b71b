"""Weighted total of rewards and config overrides."""
from absl import flags
from ml_collections import config_flags
import numpy as np
import pytest

from r1jax import rewards

COMPS = ['<think>7 and 5</think><answer>12</answer>',
         '<think>7 and 5</think> 12',
         '<think>hmm</think><answer>13</answer>']
EXS = [dict(prompt='7+5?', answer='12', task='arithmetic')] * 3


def _batch():
  return rewards.RewardBatch(COMPS, EXS, lengths_B=np.array([10, 10, 90]),
                             truncated_B=np.array([0, 0, 1]))


def test_default_is_accuracy_plus_format():
  total_B, metrics = rewards.compute_rewards(
      _batch(), rewards.default_reward_config())
  # Accuracy [1, 0, 0] (no tags in #2, wrong in #3); format [1, 0, 1].
  np.testing.assert_allclose(total_B, [2.0, 0.0, 1.0])
  assert metrics['reward/accuracy'] == pytest.approx(1 / 3)
  assert metrics['reward/format'] == pytest.approx(2 / 3)
  assert metrics['reward/total'] == pytest.approx(1.0)
  assert 'reward/reflection' in metrics  # Reported at weight 0.
  assert 'reward/language' not in metrics  # Weight 0: not computed.


def test_command_line_override_changes_total():
  argv = ['prog', '--config.format=0.0', '--config.truncation=0.5',
          '--config.accuracy=2.0']
  fv = flags.FlagValues()
  config_flags.DEFINE_config_dict('config', rewards.default_reward_config(),
                                  flag_values=fv, sys_argv=argv)
  fv(argv)
  options = rewards.default_reward_options()
  total_B, metrics = rewards.compute_rewards(_batch(), fv.config, options)
  np.testing.assert_allclose(total_B, [2.0, 0.0, -0.5])
  assert 'reward/format' not in metrics
  assert metrics['reward/truncation'] == pytest.approx(-1 / 3)


def test_every_registered_reward_has_a_weight_and_options():
  assert sorted(rewards.default_reward_config()) == rewards.names()
  assert sorted(rewards.default_reward_options()) == rewards.names()


def test_unknown_reward_names_the_field():
  with pytest.raises(ValueError, match='config.rewards.bogus'):
    rewards.compute_rewards(_batch(), dict(bogus=1.0))
