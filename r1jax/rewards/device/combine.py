"""The weighted total of device rewards, for the one-program RL step.

Mirrors `rewards.total.compute_rewards` (same config fields: weights from
`config.rewards`, options from `config.reward_options`) for the rewards that
have a jnp version. Accuracy reads the task's `device_answer` arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax.numpy as jnp

from r1jax.rewards.device import accuracy
from r1jax.rewards.device import format as fmt
from r1jax.rewards.device import length
from r1jax.rewards.device import vocab

# Rewards computable on device; the others (language, repetition,
# reflection) need the decoded text and run on the host.
DEVICE_REWARDS = ("accuracy", "format", "overlong", "cosine", "truncation")
# Tasks whose accuracy has a jnp verifier.
DEVICE_TASKS = ("arithmetic", "multilingual_arithmetic", "countdown")


@dataclasses.dataclass(frozen=True)
class DeviceRewardSpec:
  """Static description of the device rewards (hashable)."""
  weights: tuple[tuple[str, float], ...]
  task: str
  tags: vocab.Tags
  think_opened: bool = False
  overlong: tuple[int, int] = (4096, 512)  # (max_len, cache_len)
  cosine: tuple[float, ...] = (4096, 0.5, 1.0, -1.0, -0.5)
  truncation_penalty: float = -1.0

  @classmethod
  def from_config(cls, weights: Mapping[str, float],
                  options: Mapping[str, Any], task: str,
                  tags: vocab.Tags,
                  think_opened: bool = False) -> "DeviceRewardSpec":
    """Fails naming the field when a weighted reward has no jnp version.

    `think_opened` follows the prompt template (`Prompter.think_opened`).
    """
    w = {k: float(v) for k, v in dict(weights).items() if float(v) != 0.0}
    for name in w:
      if name not in DEVICE_REWARDS:
        raise ValueError(
            f"config.rewards.{name}={w[name]}: no device version; set "
            "config.rl.host_rewards=True or weight 0 (device rewards: "
            f"{DEVICE_REWARDS})")
    if ("accuracy" in w or "cosine" in w) and task not in DEVICE_TASKS:
      raise ValueError(f"config.data.task={task!r} has no device accuracy; "
                       f"device tasks: {DEVICE_TASKS} (or set "
                       "config.rl.host_rewards=True)")
    opt = lambda n: dict(options.get(n) or {})  # noqa: E731
    ol, co = opt("overlong"), opt("cosine")
    return cls(
        weights=tuple(sorted(w.items())), task=task, tags=tags,
        think_opened=bool(think_opened),
        overlong=(int(ol.get("max_len", 4096)),
                  int(ol.get("cache_len", 512))),
        cosine=(float(co.get("max_len", 4096)),
                float(co.get("min_correct", 0.5)),
                float(co.get("max_correct", 1.0)),
                float(co.get("min_wrong", -1.0)),
                float(co.get("max_wrong", -0.5))),
        truncation_penalty=float(opt("truncation").get("penalty", -1.0)))


def accuracy_reward(spec: DeviceRewardSpec, tokens_BxM, mask_BxM,
                    answers: Mapping[str, Any], class_V):
  if spec.task == "countdown":
    return accuracy.countdown_accuracy(tokens_BxM, mask_BxM,
                                       answers["target"],
                                       answers["numbers_N"], class_V,
                                       spec.tags)
  return accuracy.arithmetic_accuracy(tokens_BxM, mask_BxM,
                                      answers["answer"], class_V, spec.tags)


def score(spec: DeviceRewardSpec, tokens_BxM, mask_BxM, truncated_B,
          answers: Mapping[str, Any], class_V):
  """(total_B, {name: values_B}); accuracy and format always reported."""
  names = {n for n, _ in spec.weights} | {"format"}
  if spec.task in DEVICE_TASKS:
    names.add("accuracy")
  out = {}
  len_B = length.lengths(mask_BxM)
  if "accuracy" in names or "cosine" in names:
    out["accuracy"] = accuracy_reward(spec, tokens_BxM, mask_BxM, answers,
                                      class_V)
  if "format" in names:
    out["format"] = fmt.format_reward(tokens_BxM, mask_BxM, class_V,
                                      spec.tags, spec.think_opened)
  if "overlong" in names:
    out["overlong"] = length.soft_overlong(len_B, *spec.overlong)
  if "cosine" in names:
    max_len, *rest = spec.cosine
    out["cosine"] = length.cosine_length(len_B, out["accuracy"] > 0,
                                         int(max_len), *rest)
  if "truncation" in names:
    out["truncation"] = length.truncation_penalty(truncated_B,
                                                  spec.truncation_penalty)
  total_B = jnp.zeros(tokens_BxM.shape[:1], jnp.float32)
  for name, w in spec.weights:
    total_B += w * out[name]
  return total_B, out
