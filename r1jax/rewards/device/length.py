"""Jittable length rewards: the host formulas of `rewards.length` in jnp.

`length_B` is the completion length in tokens (e.g. `mask_BxT.sum(1)`),
`truncated_B` True where no EOS was sampled.
"""
import functools

import jax.numpy as jnp

from r1jax.rewards import length as host_length


def lengths(mask_BxT):
  return mask_BxT.astype(jnp.int32).sum(axis=1)


soft_overlong = functools.partial(host_length.soft_overlong, xp=jnp)
cosine_length = functools.partial(host_length.cosine_length, xp=jnp)
truncation_penalty = functools.partial(host_length.truncation_penalty,
                                       xp=jnp)
