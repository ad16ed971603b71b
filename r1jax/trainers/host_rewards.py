"""Host rewards of a rollout, each process scoring only rows it holds.

Every row of the rollout is decoded and scored by exactly one process: the
lowest-numbered process holding that row (from the arrays' shardings, so the
same answer on every process). Then one small all-gather of the per-row
reward values and per-process counts gives every process the same full
reward matrix, hence the same totals and metrics, even when a reward's
outcome depends on wall-clock time (math-verify time limits): no process
second-guesses another's rows. Host CPU work per process shrinks with the
number of processes.

A reward's own metrics (`RewardResult.metrics`, e.g. accuracy's timeouts)
are counts: they are summed over processes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np

from r1jax import tokenizers as tok_lib
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import extract
from r1jax.rewards import registry
from r1jax.rewards import total as reward_total
from r1jax.rewards.repetition import reflective_count


def _full(dim: int, index) -> bool:
  return len(range(dim)[index]) == dim


def _holders(x, num_processes: int) -> np.ndarray:
  """[B, P] bool: process p holds all of row r of `x` (a numpy array: every
  process does)."""
  n = x.shape[0]
  if not isinstance(x, jax.Array):
    return np.ones((n, num_processes), bool)
  held = np.zeros((n, num_processes), bool)
  for device, index in x.sharding.devices_indices_map(x.shape).items():
    if all(_full(d, i) for d, i in zip(x.shape[1:], index[1:])):
      held[np.arange(n)[index[0]], device.process_index] = True
  return held


def row_owners(*arrays) -> np.ndarray:
  """[B] int: for each row, the lowest process that holds that row of every
  array. Reads only shardings: the same on every process."""
  p = jax.process_count()
  held = np.logical_and.reduce([_holders(x, p) for x in arrays])
  if not held.any(axis=1).all():
    raise ValueError('host rewards: some rollout rows are not held whole by '
                     'any one process (tokens, lengths and truncation flags '
                     'must be sharded over rows only)')
  return held.argmax(axis=1)


def local_rows(x, rows: np.ndarray) -> np.ndarray:
  """x[rows], read from this process's shards (rows it holds whole)."""
  if not isinstance(x, jax.Array):
    return np.asarray(x)[rows]
  out = np.zeros((len(rows),) + x.shape[1:], x.dtype)
  where = np.full((x.shape[0],), -1)
  where[rows] = np.arange(len(rows))
  for shard in x.addressable_shards:
    index = shard.index
    if not all(_full(d, i) for d, i in zip(x.shape[1:], index[1:])):
      continue
    shard_rows = np.arange(x.shape[0])[index[0]]
    pick = where[shard_rows] >= 0
    if pick.any():
      out[where[shard_rows[pick]]] = np.asarray(shard.data)[pick]
      where[shard_rows[pick]] = -1  # filled
  return out


def _allgather(vec: np.ndarray) -> np.ndarray:
  """[P, L]: every process's `vec`, on every process."""
  if jax.process_count() == 1:
    return vec[None]
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(vec))


def score_rollout(
    tok: tok_lib.Tokenizer, comp, examples_B: Sequence[Mapping[str, Any]],
    weights: Mapping[str, float], options: Mapping[str, Any] | None, *,
    think_opened: bool, report: Sequence[str] = ('reflection',),
    scope: Mapping[str, Any] | None = None, step: int = 0,
    extra: Mapping[str, np.ndarray] | None = None, per_row: bool = False,
):
  """(total_B float32 [B], metrics), the same on every process; with
  `per_row`, (total_B, metrics, {name: float32 [B]}): each computed
  reward's value of every row.

  Args:
    tok: decodes completions (EOS, padding and special tokens stripped, R1
      tags kept; see `rewards.decode`).
    comp: holds global arrays `tokens_BxM`, `length_B`, `truncated_B`,
      sharded over rows (e.g. `sampling.Completions`).
    examples_B: the example of each row (all B, on every process).
    weights, options, report, scope, step, extra: as
      `rewards.total.compute_rewards` (`extra`: {name: values of all B
      rows}, e.g. reward models' scores, the same on every process).
    think_opened: whether the prompt opened `<think>` (text metrics).

  Returns:
    What `compute_rewards` returns for all B rows (metrics `reward/<name>`,
    `.../std`, `.../failures`, the reward's counts, `reward/total`), plus
    `reflection/words_mean` and `reflection/frac_any` as
    `trainers.rl_data.text_metrics` gives them.
  """
  arrays = (comp.tokens_BxM, comp.length_B, comp.truncated_B)
  n = arrays[0].shape[0]
  if len(examples_B) != n:
    raise ValueError(f'examples_B has {len(examples_B)} examples for {n} '
                     'rollout rows')
  owner = row_owners(*arrays)
  mine = np.flatnonzero(owner == jax.process_index())
  tokens, length, truncated = (local_rows(x, mine) for x in arrays)
  texts = decode_lib.decode(tok, tokens, length)
  batch = registry.RewardBatch(texts, [examples_B[i] for i in mine],
                               lengths_B=length, truncated_B=truncated)
  extra = dict(extra or {})
  results = reward_total.reward_results(batch, weights, options, report,
                                        tuple(extra))
  # Per row: each reward's value, then the reflective-word count.
  values_BxK = np.zeros((n, len(results) + 1), np.float32)
  for k, result in enumerate(results.values()):
    values_BxK[mine, k] = np.asarray(result.values_B, np.float32)
  values_BxK[mine, -1] = [
      reflective_count(extract.think_section(t, think_opened)) for t in texts]
  # Per process: each reward's failures, then its own metrics (counts).
  keys = [(name, k) for name, r in results.items()
          for k in ('failures', *r.metrics)]
  counts = np.array([results[name].failures if k == 'failures'
                     else results[name].metrics[k] for name, k in keys],
                    np.float32)
  gathered = _allgather(np.concatenate([values_BxK.ravel(), counts]))
  cut = values_BxK.size
  # Row r from its owner; counts summed over processes.
  all_BxK = gathered[:, :cut].reshape(-1, n, values_BxK.shape[1])[
      owner, np.arange(n)]
  summed = dict(zip(keys, gathered[:, cut:].sum(axis=0).tolist()))
  full = {name: registry.RewardResult(
      all_BxK[:, k], failures=int(summed[(name, 'failures')]),
      metrics={m: summed[(name, m)] for m in r.metrics})
          for k, (name, r) in enumerate(results.items())}
  full.update({name: registry.RewardResult(np.asarray(v, np.float32))
               for name, v in extra.items()})
  total_B, metrics = reward_total.summarize(
      full, weights, n, scope, [e.get('source', '') for e in examples_B],
      step, tuple(extra))
  words_B = all_BxK[:, -1].astype(np.int64)
  metrics['reflection/words_mean'] = float(np.mean(words_B)) if n else 0.0
  metrics['reflection/frac_any'] = float(np.mean(words_B > 0)) if n else 0.0
  if per_row:
    return total_B, metrics, {name: r.values_B for name, r in full.items()}
  return total_B, metrics


def unscored(total_B: np.ndarray, parts: Mapping[str, np.ndarray],
             weights: Mapping[str, float], models=()) -> np.ndarray:
  """total_B with NaN in the rows a weighted reward could not score (NaN
  in `parts`, e.g. a program the sandbox could not run, after its
  retries): the RL step leaves those rows out of the loss and of their
  group's statistics (grpo_step). `models` (reward models, the judge) are
  not among them: a missing verdict only drops out of the reward
  (rewards.combiner, `missing`)."""
  rows = np.zeros(np.shape(total_B), bool)
  for name, v in parts.items():
    if name not in models and float(weights.get(name, 0.0)):
      rows |= np.isnan(np.asarray(v, np.float32))
  return np.where(rows, np.nan, total_B).astype(np.float32)
