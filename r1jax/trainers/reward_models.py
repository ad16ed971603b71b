"""The frozen reward models of an RL run (`config.reward_models`).

Each named block is a reward: its weight is `config.rewards.<name>`, its
scope `config.reward_scope.<name>`, and the model (a `reward_model` stage
workdir or a Hugging Face `*ForSequenceClassification` directory) is read
at every start and never checkpointed, like the distillation teacher. It
reads the policy's token ids, so it must share the policy's tokenizer. Its
params are stored and computed in the model dtype and sharded with the
policy's rules (frozen: no optimizer state); see the README's memory table.
"""

from __future__ import annotations

import os

from r1jax import tokenizers as tok_lib
from r1jax.rewards import registry as reward_registry
from r1jax.rewards.device import model_rewards
from r1jax.trainers import common
from r1jax.trainers import reward_model as rm_stage
from r1jax.trainers import teacher as teacher_lib

_WHY = ("a reward model reads the policy's token ids, so it needs the "
        "policy's tokenizer")


def blocks(c) -> dict:
  """{name: block} of config.reward_models ({} without the field)."""
  b = c.get("reward_models")
  return {} if b is None else {k: b[k] for k in b}


def extra_names(c) -> list[str]:
  """Rewards the config defines (reward models, the judge)."""
  return sorted(blocks(c)) + (["judge"] if c.get("judge") is not None
                              else [])


def names(c) -> list[str]:
  """Every reward config.rewards may weight."""
  return reward_registry.names() + extra_names(c)


def active(c) -> list[str]:
  """Names of the reward models with a model (init_from set)."""
  return sorted(n for n, b in blocks(c).items() if b.init_from)


def validate(c) -> None:
  """Fails naming the field: a weighted RM without a model, a model that
  is not a reward model, a bad span or chunk count."""
  for name, b in blocks(c).items():
    field = f"config.reward_models.{name}"
    w = float(c.rewards.get(name, 0.0))
    if w and not b.init_from:
      raise ValueError(f"config.rewards.{name}={w} needs {field}.init_from "
                       "(a reward_model workdir or a Hugging Face "
                       "*ForSequenceClassification directory)")
    if b.span not in model_rewards.SPANS:
      raise ValueError(f"{field}.span={b.span!r}; allowed: "
                       f"{model_rewards.SPANS}")
    if b.chunks < 1:
      raise ValueError(f"{field}.chunks={b.chunks} must be >= 1")
    if b.init_from:
      if not os.path.isdir(b.init_from):
        raise ValueError(f"{field}.init_from={b.init_from!r}: not a "
                         "directory")
      if not rm_stage.is_reward_source(b.init_from):
        raise ValueError(f"{field}.init_from={b.init_from!r} holds no "
                         "reward model (a causal LM or another stage's "
                         "workdir); train one with configs/reward_model.py")
      if b.normalize and rm_stage.read_stats(b.init_from) is None:
        raise ValueError(f"{field}.init_from={b.init_from!r} has no "
                         f"{rm_stage.STATS_FILE} to normalise with; set "
                         f"{field}.normalize=False for raw scores")


def load(c, mesh, rules, tok: tok_lib.Tokenizer, budget: int
         ) -> tuple[tuple[model_rewards.ModelRewardSpec, ...], dict]:
  """(specs, {name: params}) of the active reward models, on `mesh` with
  the policy's sharding `rules`, in config.model.dtype."""
  dtype = common.DTYPES[c.model.dtype]
  specs, params = [], {}
  for name in active(c):
    b = blocks(c)[name]
    field = f"config.reward_models.{name}.init_from"
    try:
      rm_tok = tok_lib.load(b.init_from)
    except (FileNotFoundError, ValueError) as e:
      raise ValueError(f"{field}={b.init_from!r} holds no readable "
                       f"tokenizer ({e}); {_WHY}") from e
    teacher_lib.check_tokenizer(tok, rm_tok, b.init_from, field, _WHY)
    cfg, p, stats = rm_stage.load_reward_model(
        b.init_from, mesh, rules, dtype=dtype, param_dtype=dtype,
        remat="none")
    # + 1: the EOS the RM reads its score at (model_rewards.with_eos).
    need = budget + (tok.eos_id is not None)
    if need > cfg.max_seq_len:
      raise ValueError(f"{field}={b.init_from!r}: max_seq_len "
                       f"{cfg.max_seq_len} < the prompt + completion (+ EOS)"
                       f" budget {need}")
    mean, std = ((stats["mean"], stats["std"]) if b.normalize
                 else (0.0, 1.0))
    specs.append(model_rewards.ModelRewardSpec(
        name, cfg, b.span, float(mean), float(std), int(b.chunks),
        tok.eos_id))
    params[name] = p
  return tuple(specs), params

