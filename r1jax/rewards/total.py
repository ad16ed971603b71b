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

from r1jax.rewards import combiner
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
  # Code: every test passes in the sandbox / the fraction passed (accuracy
  # already scores code problems this way; these name it apart).
  c.code = 0.0
  c.code_partial = 0.0
  return c


def default_reward_options() -> ml_collections.ConfigDict:
  """Per-reward options, passed as keyword arguments to the host function
  and its device twin; their one set of defaults is the host function's
  signature (`registry.options`), e.g. accuracy's math-verify time limit
  `timeout_s` (s; timeouts score 0), DAPO's overlong `max_len` and
  `cache_len` (tokens)."""
  c = ml_collections.ConfigDict()
  for name in registry.names():
    opts = registry.options(name)
    c[name] = {k: list(v) if isinstance(v, tuple) else v
               for k, v in opts.items()}
  return c


def default_reward_scope() -> ml_collections.ConfigDict:
  """Where each reward applies (`combiner.Scope`): `sources`, a comma list
  of example `source` values ('' = every row), and `start_step`, the first
  RL step (in rollouts) at which the reward counts."""
  c = ml_collections.ConfigDict()
  for name in registry.names():
    c[name] = dict(sources='', start_step=0)
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


def validate(weights: Mapping[str, Any], extra: Sequence[str] = ()) -> None:
  """Fails with a message naming the field if a weight is unusable;
  `extra`: reward names defined by config (reward models, judges)."""
  allowed = registry.names() + sorted(extra)
  for name, w in dict(weights).items():
    if name not in allowed:
      raise ValueError(f'config.rewards.{name}: unknown reward; '
                       f'allowed: {allowed}')
    if not isinstance(w, (int, float)):
      raise ValueError(f'config.rewards.{name}: weight must be a float')


def compute_rewards(
    batch: registry.RewardBatch,
    weights: Mapping[str, float],
    options: Mapping[str, Any] | None = None,
    report: Sequence[str] = ('reflection',),
    scope: Mapping[str, combiner.Scope] | None = None,
    step: int = 0,
    extra: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
  """(total_B, metrics): total_B = sum_name weight * reward_B in scope.

  Metrics: `combiner.combine`'s (`reward/<name>`, `.../std`,
  `.../failures`, the reward's own counts, `reward/total`, ...). `extra`:
  {name: values_B} of rewards computed elsewhere (reward models).
  """
  extra = dict(extra or {})
  results = reward_results(batch, weights, options, report, tuple(extra))
  results.update({n: registry.RewardResult(np.asarray(v, np.float32))
                  for n, v in extra.items()})
  sources_B = [e.get('source', '') for e in batch.examples]
  return summarize(results, weights, len(batch), scope, sources_B, step,
                   tuple(extra))


def reward_results(
    batch: registry.RewardBatch,
    weights: Mapping[str, float],
    options: Mapping[str, Any] | None = None,
    report: Sequence[str] = ('reflection',),
    extra: Sequence[str] = (),
) -> dict[str, registry.RewardResult]:
  """Each computed reward's per-row result, in registry order (the rows
  `compute_rewards` sums and averages; `trainers.host_rewards` gathers them
  across processes): the weighted rewards and those in `report`; `extra`
  names rewards computed elsewhere (reward models), skipped here."""
  weights = dict(weights)
  validate(weights, extra)
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
              weights: Mapping[str, float], batch_size: int,
              scope: Mapping[str, combiner.Scope] | None = None,
              sources_B: Sequence[str] | None = None,
              step: int = 0, missing: Sequence[str] = ()
              ) -> tuple[np.ndarray, dict[str, float]]:
  """`compute_rewards`' (total_B, metrics) from `reward_results`; `scope`
  limits rewards to the rows whose `sources_B` it names and to steps >=
  its start_step."""
  scope = dict(scope or {})
  # NaN = no value (a judge without a verdict, a program the sandbox could
  # not run): left out of the reward and counted, never a NaN total.
  missing = set(missing) | {n for n, r in results.items()
                            if np.isnan(np.asarray(r.values_B)).any()}
  if sources_B is None:
    sources_B = [''] * batch_size
  masks, gates = {}, {}
  for name in results:
    sc = scope.get(name) or combiner.Scope()
    masks[name] = combiner.in_scope(sc, np.asarray(sources_B, object), {})
    gates[name] = float(step >= sc.start_step)
  total_B, metrics = combiner.combine(
      {n: r.values_B for n, r in results.items()}, weights, masks=masks,
      gates=gates, failures={n: r.failures for n, r in results.items()},
      extra={n: r.metrics for n, r in results.items()}, missing=missing,
      num_rows=batch_size)
  return (np.asarray(total_B, np.float32),
          {k: float(v) for k, v in metrics.items()})
