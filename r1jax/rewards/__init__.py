"""Rewards by name, their weighted total, and config helpers.

Host rewards live here; jittable token-level twins are in
`r1jax.rewards.device` (imported separately so that reward worker processes
do not import JAX).
"""
# Importing the modules registers the rewards.
from r1jax.rewards import accuracy
from r1jax.rewards import code
from r1jax.rewards import format  # pylint: disable=redefined-builtin
from r1jax.rewards import language
from r1jax.rewards import length
from r1jax.rewards import repetition
from r1jax.rewards.registry import get
from r1jax.rewards.registry import names
from r1jax.rewards.registry import register
from r1jax.rewards.registry import RewardBatch
from r1jax.rewards.registry import RewardResult
from r1jax.rewards.total import compute_rewards
from r1jax.rewards.total import default_reward_config
from r1jax.rewards.total import default_reward_options
from r1jax.rewards.total import validate
