"""JAX-native sampling: strategies, the KV-cache sampler and continuous
batching."""
from r1jax.sampling.sampler import (BUCKETS, Completions, bucket_length,
                                    jit_sample, left_pad, sample)
from r1jax.sampling.strategies import Sampling
from r1jax.sampling import continuous
