"""JAX-native sampling: strategies and the KV-cache sampler."""
from r1jax.sampling.sampler import (BUCKETS, Completions, bucket_length,
                                    jit_sample, left_pad, sample)
from r1jax.sampling.strategies import Sampling
