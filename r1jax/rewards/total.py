"""Weighted total of host rewards, with weights and options from config.

Config layout (both overridable from the command line):
  config.rewards.<name> = weight        e.g. --config.rewards.format=0.0
  config.reward_options.<name>.<opt>    e.g. --config.reward_options.
                                             overlong.max_len=1024
A reward with weight 0 is not computed unless listed in `report`, in which
case it is computed for its metrics only.
"""
import inspect
from typing import Any, Mapping, Sequence

import ml_collections
import numpy as np

from r1jax.rewards import registry


def default_reward_config() -> ml_collections.ConfigDict:
  """One float weight per registered reward; R1-Zero's acc + format."""
  c = ml_collections.ConfigDict()
  # Rule-based correctness (math-verify / task verifiers / choice letter).
  c.accuracy = 1.0
  # Strict <think></think><answer></answer> layout [R1: same weight as acc].
  c.format = 1.0
  # Fraction of CoT words in the target language (R1 stage-1 RL).
  c.language = 0.0
  # DAPO soft overlong penalty.
  c.overlong = 0.0
  # Cosine length reward (replaces accuracy when used; Yeo et al. 2025).
  c.cosine = 0.0
  # Penalty for completions that hit the length limit without EOS.
  c.truncation = 0.0
  # n-gram repetition penalty.
  c.repetition = 0.0
  # Reflective-word count; a metric by default.
  c.reflection = 0.0
  return c


def default_reward_options() -> ml_collections.ConfigDict:
  """Per-reward options, passed as keyword arguments to each reward."""
  c = ml_collections.ConfigDict()
  # Hard time limit (s) per math-verify check; timeouts score 0.
  c.accuracy = dict(timeout_s=5.0, max_answer_chars=1000, num_workers=0)
  # No options: whether the prompt already opened <think> follows the
  # template (`templates.Prompter.think_opened`); see `with_template`.
  c.format = dict()
  c.language = dict(min_chunk_words=3, min_margin=10.0)
  # DAPO: L_max and L_cache in tokens.
  c.overlong = dict(max_len=4096, cache_len=512)
  c.cosine = dict(max_len=4096, min_correct=0.5, max_correct=1.0,
                  min_wrong=-1.0, max_wrong=-0.5)
  c.truncation = dict(penalty=-1.0)
  c.repetition = dict(ngram=3, max_penalty=-1.0)
  c.reflection = dict()
  return c


def with_template(options: Mapping[str, Any],
                  think_opened: bool) -> dict[str, dict]:
  """Options with `think_opened` set, from the prompt template, for every
  reward that takes it; a user-set `think_opened` is an error (it would
  disagree with the template)."""
  out = {}
  for name in registry.names():
    opts = dict(options.get(name) or {})
    if 'think_opened' in opts:
      raise ValueError(
          f'config.reward_options.{name}.think_opened: not an option; it '
          'follows config.template (whether the prompt opens <think>)')
    if 'think_opened' in inspect.signature(registry.get(name)).parameters:
      opts['think_opened'] = bool(think_opened)
    out[name] = opts
  return out


def validate(weights: Mapping[str, Any]) -> None:
  """Fails with a message naming the field if a weight is unusable."""
  for name, w in dict(weights).items():
    if name not in registry.names():
      raise ValueError(f'config.rewards.{name}: unknown reward; '
                       f'allowed: {registry.names()}')
    if not isinstance(w, (int, float)):
      raise ValueError(f'config.rewards.{name}: weight must be a float')


def compute_rewards(
    batch: registry.RewardBatch,
    weights: Mapping[str, float],
    options: Mapping[str, Any] | None = None,
    report: Sequence[str] = ('reflection',),
) -> tuple[np.ndarray, dict[str, float]]:
  """(total_B, metrics): total_B = sum_name weight * reward_B.

  Metrics per computed reward: `rewards/<name>` (mean), `.../std`,
  `.../failures`, and the reward's own metrics; plus `rewards/total`.
  """
  return summarize(reward_results(batch, weights, options, report), weights,
                   len(batch))


def reward_results(
    batch: registry.RewardBatch,
    weights: Mapping[str, float],
    options: Mapping[str, Any] | None = None,
    report: Sequence[str] = ('reflection',),
) -> dict[str, registry.RewardResult]:
  """Each computed reward's per-row result, in registry order (the rows
  `compute_rewards` sums and averages; `trainers.host_rewards` gathers them
  across processes)."""
  weights = dict(weights)
  validate(weights)
  options = {} if options is None else dict(options)
  results = {}
  for name in registry.names():
    if float(weights.get(name, 0.0)) == 0.0 and name not in report:
      continue
    opts = options.get(name) or {}
    opts = opts.to_dict() if hasattr(opts, 'to_dict') else dict(opts)
    results[name] = registry.get(name)(batch, **opts)
  return results


def summarize(results: Mapping[str, registry.RewardResult],
              weights: Mapping[str, float],
              batch_size: int) -> tuple[np.ndarray, dict[str, float]]:
  """`compute_rewards`' (total_B, metrics) from `reward_results`."""
  n = batch_size
  total_B = np.zeros((n,), np.float32)
  metrics: dict[str, float] = {}
  for name, result in results.items():
    values_B = np.asarray(result.values_B, np.float32)
    total_B += float(weights.get(name, 0.0)) * values_B
    metrics[f'rewards/{name}'] = float(values_B.mean()) if n else 0.
    metrics[f'rewards/{name}/std'] = float(values_B.std()) if n else 0.
    metrics[f'rewards/{name}/failures'] = float(result.failures)
    for k, v in result.metrics.items():
      metrics[f'rewards/{name}/{k}'] = float(v)
  metrics['rewards/total'] = float(total_B.mean()) if n else 0.0
  return total_B, metrics
