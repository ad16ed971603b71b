"""Jittable (jnp, token-level) rewards for one-program RL steps.

See `vocab` for what the tokenizer must provide (tag id sequences and a
per-token class table).
"""
from r1jax.rewards.device.accuracy import arithmetic_accuracy
from r1jax.rewards.device.accuracy import countdown_accuracy
from r1jax.rewards.device.format import answer_span
from r1jax.rewards.device.format import format_reward
from r1jax.rewards.device.length import cosine_length
from r1jax.rewards.device.length import lengths
from r1jax.rewards.device.length import soft_overlong
from r1jax.rewards.device.length import truncation_penalty
from r1jax.rewards.device.vocab import Tags
from r1jax.rewards.device.vocab import token_classes
