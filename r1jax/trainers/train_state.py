"""The train state and its optimizer, from `config.optim`.

The train state is a dict pytree {params, opt_state, step, bad_steps};
reference params (GRPO) are a separate argument. AdamW's moments are
sharded like the params; an update whose loss or gradients are not finite
is skipped and counted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec

SCHEDULES = ("cosine", "constant", "linear")


def validate_optim(c) -> None:
  o = c.optim
  if o.schedule not in SCHEDULES:
    raise ValueError(f"config.optim.schedule={o.schedule!r}; allowed: "
                     f"{SCHEDULES}")
  if o.lr <= 0:
    raise ValueError(f"config.optim.lr={o.lr} must be > 0")
  if o.warmup_steps < 0:
    raise ValueError("config.optim.warmup_steps must be >= 0")


def make_optimizer(o, total_updates: int):
  """(optax transform, lr schedule) from `config.optim`."""
  warm = min(o.warmup_steps, max(total_updates - 1, 0))
  decay = max(total_updates - warm, 1)
  if o.schedule == "cosine":
    sched = optax.warmup_cosine_decay_schedule(
        0.0, o.lr, max(warm, 1) if warm else 0, warm + decay,
        end_value=o.lr * o.final_lr_fraction)
  else:
    end = o.lr * (o.final_lr_fraction if o.schedule == "linear" else 1.0)
    sched = optax.join_schedules(
        [optax.linear_schedule(0.0, o.lr, max(warm, 1)),
         optax.linear_schedule(o.lr, end, decay)], [warm])
  # No weight decay on norms and biases (vectors).
  mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)  # noqa: E731
  tx = optax.chain(
      optax.clip_by_global_norm(o.clip_norm) if o.clip_norm > 0
      else optax.identity(),
      optax.adamw(sched, b1=o.b1, b2=o.b2, eps=o.eps,
                  weight_decay=o.weight_decay, mask=mask))
  return tx, sched


def opt_state_shardings(tx, params):
  """Shardings of `tx.init(params)`: every copy of the params tree in the
  optimizer state (AdamW's two moments) sharded like the params, the rest
  (step counts) replicated over their mesh. `params` may be arrays or
  abstract `ShapeDtypeStruct`s with shardings.

  jit alone would not give this: `tx.init` builds zeros that depend on no
  input value, so XLA leaves them replicated, and every device would hold
  both moments of the whole model."""
  mesh = jax.tree.leaves(params)[0].sharding.mesh
  rep = NamedSharding(mesh, PartitionSpec())
  own = lambda _, p: p.sharding if isinstance(  # noqa: E731
      p.sharding, NamedSharding) else rep
  return optax.tree_map_params(tx, own, jax.eval_shape(tx.init, params),
                               params, transform_non_params=lambda _: rep)


def init_state(params, tx) -> dict:
  """Train state; optimizer moments sharded like the params
  (`opt_state_shardings`) and the counters replicated over the params'
  mesh (not left on device 0, or a restored state would not fit the
  step's mesh)."""
  mesh = jax.tree.leaves(params)[0].sharding.mesh
  rep = NamedSharding(mesh, PartitionSpec())
  opt_state = jax.jit(tx.init, out_shardings=opt_state_shardings(
      tx, params))(params)
  zero = jax.device_put(jnp.zeros((), jnp.int32), rep)
  return {"params": params, "opt_state": opt_state, "step": zero,
          "bad_steps": jnp.copy(zero)}


def apply_if_finite(state, grads, loss, tx):
  """One optimizer update, skipped (and counted) if loss or grads are not
  finite. Returns (new state, grad norm)."""
  gnorm = optax.global_norm(grads)
  ok = jnp.isfinite(loss) & jnp.isfinite(gnorm)
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  keep = lambda new, old: jax.tree.map(  # noqa: E731
      lambda a, b: jnp.where(ok, a, b), new, old)
  return {"params": keep(params, state["params"]),
          "opt_state": keep(opt_state, state["opt_state"]),
          "step": state["step"],
          "bad_steps": jnp.where(ok, 0, state["bad_steps"] + 1)}, gnorm
