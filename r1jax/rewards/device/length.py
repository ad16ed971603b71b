"""Jittable length rewards: the host formulas of `rewards.length` in jnp.

`length_B` is the completion length in tokens (e.g. `mask_BxT.sum(1)`),
`truncated_B` True where no EOS was sampled.
"""
import functools

import jax.numpy as jnp

from r1jax.rewards import length as host_length
from r1jax.rewards import registry


def lengths(mask_BxT):
  return mask_BxT.astype(jnp.int32).sum(axis=1)


soft_overlong = functools.partial(host_length.soft_overlong, xp=jnp)
cosine_length = functools.partial(host_length.cosine_length, xp=jnp)
truncation_penalty = functools.partial(host_length.truncation_penalty,
                                       xp=jnp)


@registry.register_device('overlong')
def overlong_twin(batch, max_len, cache_len):
  return soft_overlong(lengths(batch.mask_BxM), max_len, cache_len)


@registry.register_device('cosine')
def cosine_twin(batch, max_len, min_correct, max_correct, min_wrong,
                max_wrong):
  correct_B = registry.device('accuracy')(batch) > 0.5
  return cosine_length(lengths(batch.mask_BxM), correct_B, max_len,
                       min_correct, max_correct, min_wrong, max_wrong)


@registry.register_device('truncation')
def truncation_twin(batch, penalty):
  return truncation_penalty(batch.truncated_B, penalty)
