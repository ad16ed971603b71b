"""Losses: the GRPO family (built from config fields) and next-token SFT."""
from r1jax.losses.grpo import advantages
from r1jax.losses.grpo import finalize_aux
from r1jax.losses.grpo import kl_per_token
from r1jax.losses.grpo import LossConfig
from r1jax.losses.grpo import make_config
from r1jax.losses.grpo import policy_loss
from r1jax.losses.grpo import PRESETS
from r1jax.losses.grpo import reduce_aux
from r1jax.losses.grpo import sequence_kl
from r1jax.losses.grpo import token_weights
from r1jax.losses.sft import next_token_loss
from r1jax.losses.sft import token_logp
