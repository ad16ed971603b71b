"""The stages `python -m r1jax.main` runs: `config.stage` -> the module
that runs it. Each module exposes `validate(config)` (fails before anything
loads or compiles, naming the field) and `run(config, workdir)`."""

import importlib

STAGES = {
    "eval": "r1jax.trainers.evaluate",
    "generate": "r1jax.trainers.generate",
    "sft": "r1jax.trainers.sft",
    "pretrain": "r1jax.trainers.sft",
    "grpo": "r1jax.trainers.grpo",
    "reward_model": "r1jax.trainers.reward_model",
    "pipeline": "r1jax.trainers.pipeline",
}


def names() -> list[str]:
  return sorted(STAGES)


def module(stage: str):
  """The module that runs `stage`; ValueError naming the known ones."""
  if stage not in STAGES:
    raise ValueError(f"config.stage={stage!r}; known: {names()}")
  return importlib.import_module(STAGES[stage])
