"""Scalar reward models as rewards, computed on device from token arrays.

A reward model (`models.reward`, trained by the `reward_model` stage or a
public `*ForSequenceClassification` checkpoint) scores prompt + response;
R1's helpfulness model sees only the **summary** (the text after the last
`</think>`), its safety model the **full** response (`span`). With
span='summary' the reasoning tokens are masked out of the RM's input
(segment id 0: not attended, no position), so nothing inside `<think>`
can change the score; a response without `</think>` is all summary (what
a user would read). Scores are normalised with the statistics the
`reward_model` stage stored (`reward_stats.json`: mean and std of its
held-out scores), so a weight means the same across reward models.
The RM reads its score where the `reward_model` stage trained it to: at the
EOS token that stage appends to every response, so a completion that
stopped on another stop token (R1-Zero's `</answer>`) or at the length
limit gets one appended here (`eos_id`). Without it the RM read the score at
`</answer>`, a position it was never trained on: measured on the RM demo,
its scores of 12 rollouts spanned 0.33..0.45 there against -1.6..1.1 at
the EOS, and RL with it lowered the rule-checked accuracy.

The same function runs inside the one-program RL step (device rewards) and
as a small jitted program after the rollout (host rewards).
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from r1jax.models import reward as rm_lib
from r1jax.models.transformer import ModelConfig
from r1jax.rewards.device import vocab

SPANS = ("summary", "full")


@dataclasses.dataclass(frozen=True)
class ModelRewardSpec:
  """Static description of one reward model reward (hashable)."""
  name: str
  cfg: ModelConfig
  span: str = "summary"
  mean: float = 0.0  # subtracted from the raw score
  std: float = 1.0  # divides it
  chunks: int = 1  # RM forwards per step (rows split; less memory)
  eos_id: int | None = None  # appended where a completion lacks it

  def __post_init__(self):
    if self.span not in SPANS:
      raise ValueError(f"config.reward_models.{self.name}.span="
                       f"{self.span!r}; allowed: {SPANS}")
    if not self.std > 0:
      raise ValueError(f"reward model {self.name!r}: std={self.std} must "
                       "be > 0")


def summary_mask(tokens_BxM, mask_BxM, tags: vocab.Tags):
  """int32[B, M]: completion tokens after the last `</think>` (every
  completion token when there is none)."""
  close_BxM = vocab.match(tokens_BxM, mask_BxM, tags.think_close)
  n = len(tags.think_close)
  start_B = vocab.last(close_BxM, -n) + n
  t_1xM = jnp.arange(tokens_BxM.shape[1], dtype=jnp.int32)[None, :]
  return (mask_BxM.astype(bool) & (t_1xM >= start_B[:, None])).astype(
      jnp.int32)


def sequences(prompts_PxT, pmask_PxT, tokens_BxM, mask_BxM, group: int):
  """Prompt + completion rows: (tokens, segment ids, positions) [B, S];
  positions count real tokens, so masked completion tokens shift none."""
  rep = lambda x: jnp.repeat(x, group, axis=0)  # noqa: E731
  tokens = jnp.concatenate([rep(prompts_PxT), tokens_BxM], axis=1)
  seg = jnp.concatenate([rep(pmask_PxT.astype(jnp.int32)),
                         mask_BxM.astype(jnp.int32)], axis=1)
  pos = jnp.maximum(jnp.cumsum(seg, axis=1) - 1, 0)
  return tokens, seg, pos


def with_eos(tokens_BxM, mask_BxM, eos_id: int):
  """(tokens, mask) [B, M + 1]: each completion (real tokens first, as the
  sampler returns them) ending in `eos_id`, appended after its last real
  token unless that token is already EOS."""
  b = tokens_BxM.shape[0]
  mask_BxM = mask_BxM.astype(jnp.int32)
  tokens = jnp.concatenate(
      [tokens_BxM, jnp.full((b, 1), eos_id, tokens_BxM.dtype)], axis=1)
  mask = jnp.concatenate([mask_BxM, jnp.zeros((b, 1), jnp.int32)], axis=1)
  n_B = mask_BxM.sum(axis=1)
  rows = jnp.arange(b)
  ends_eos = (n_B > 0) & (tokens[rows, jnp.maximum(n_B - 1, 0)] == eos_id)
  tokens = tokens.at[rows, n_B].set(
      jnp.where(ends_eos, tokens[rows, n_B], eos_id).astype(tokens.dtype))
  mask = mask.at[rows, n_B].set(jnp.where(ends_eos, mask[rows, n_B], 1))
  return tokens, mask


def inputs(spec: ModelRewardSpec, prompts_PxT, pmask_PxT, tokens_BxM,
           mask_BxM, group: int, tags: vocab.Tags):
  """(tokens, segment ids, positions) [B, T + M (+ 1 with an eos_id)]: each
  row's prompt and the part of its completion the RM reads."""
  if spec.eos_id is not None:
    tokens_BxM, mask_BxM = with_eos(tokens_BxM, mask_BxM, spec.eos_id)
  if spec.span == "summary":
    mask_BxM = summary_mask(tokens_BxM, mask_BxM, tags)
  return sequences(prompts_PxT, pmask_PxT, tokens_BxM, mask_BxM, group)


def model_reward(params, spec: ModelRewardSpec, prompts_PxT, pmask_PxT,
                 tokens_BxM, mask_BxM, group: int, tags: vocab.Tags):
  """float32[B]: (RM score - mean) / std of every rollout row."""
  tokens, seg, pos = inputs(spec, prompts_PxT, pmask_PxT, tokens_BxM,
                            mask_BxM, group, tags)
  raw_B = rm_lib.scores(params, spec.cfg, tokens, seg, pos,
                        chunks=spec.chunks)
  return (raw_B - spec.mean) / spec.std


def model_rewards(specs, frozen_rms, prompts_PxT, pmask_PxT, tokens_BxM,
                  mask_BxM, group: int, tags: vocab.Tags) -> dict:
  """{name: float32[B]} for every reward model in `specs`; params from
  `frozen_rms` ({name: params})."""
  return {s.name: model_reward(frozen_rms[s.name], s, prompts_PxT,
                               pmask_PxT, tokens_BxM, mask_BxM, group, tags)
          for s in specs}
