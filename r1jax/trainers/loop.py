"""The host loop shared by the SFT and GRPO stages.

It only does I/O: dispatch step t+1 before reading step t's metrics
(nanodo), write metrics and samples through `metrics.Writer`, checkpoint
every N steps, at the end and on SIGTERM, evaluate, and abort after too
many consecutive non-finite updates. Everything a step consumes (data,
RNG) is a function of the step number, so a resumed run repeats an
uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import metrics as metrics_lib
from r1jax.trainers import common


@dataclasses.dataclass
class Hooks:
  """What a stage plugs into the loop.

  step(carry, step) -> (carry, device metrics, device extras): dispatches
    one compiled step (asynchronously).
  host_metrics(step, metrics, extras) -> dict: host-side additions
    (decoded-text metrics); called one step later.
  samples(step, extras) -> dict[str, str]: texts for `write_texts`.
  evaluate(carry, step) -> dict: held-out metrics.
  """
  step: Callable[[Any, int], tuple[Any, dict, Any]]
  host_metrics: Callable[[int, dict, Any], dict] | None = None
  samples: Callable[[int, Any], dict] | None = None
  evaluate: Callable[[Any, int], dict] | None = None


def _scalars(tree: dict) -> dict:
  return {k: float(np.asarray(v)) for k, v in tree.items()}


def run(c, workdir: str, carry, hooks: Hooks, *, total_steps: int,
        tokens_per_step: Callable[[dict], float] | None = None,
        flops_per_token: float = 0.0) -> tuple[Any, dict]:
  """Runs (or resumes) the loop; returns (carry, last metrics)."""
  ckpt = ckpt_lib.Checkpointer(f"{workdir}/checkpoints", keep=c.checkpoint.keep)
  start = 0
  if ckpt.latest_step() is not None:
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        carry)
    carry, extra = ckpt.restore(abstract)
    start = int(extra["step"])
    logging.info("resumed from %s at step %d", workdir, start)
  writer = metrics_lib.Writer(workdir, start_step=start)
  progress = metrics_lib.Progress(total_steps, start_step=start)

  def save(step: int) -> None:
    ckpt.save(step, carry, {"step": step, "data_position": step}, force=True)

  if start == 0 and hooks.evaluate is not None:
    writer.write_scalars(0, hooks.evaluate(carry, 0))

  state = {"t": time.perf_counter(), "last": {}}

  def finish(pending) -> None:
    """Metrics and samples of a dispatched step, once it has run."""
    p_step, p_metrics, p_extras = pending
    m = _scalars(common.to_host(p_metrics))
    if hooks.host_metrics is not None:
      m.update(hooks.host_metrics(p_step, m, p_extras))
    now = time.perf_counter()
    dt = max(now - state["t"], 1e-9)
    m["time/step_s"], state["t"] = dt, now
    if tokens_per_step is not None:
      tok = tokens_per_step(m)
      m["time/tokens_per_s"] = tok / dt
      if flops_per_token:
        m["time/model_tflops"] = flops_per_token * tok / dt / 1e12
    m.update({f"time/{k}": v for k, v in progress.update(p_step + 1).items()})
    done = p_step + 1
    if done % c.log.every == 0 or done == total_steps:
      writer.write_scalars(done, m)
    every = c.log.get("samples_every", 0)
    if hooks.samples is not None and every and done % every == 0:
      writer.write_texts(done, hooks.samples(p_step, p_extras))
    state["last"] = m
    if m.get("bad_steps", 0) >= c.log.max_bad_steps:
      raise RuntimeError(
          f"{int(m['bad_steps'])} consecutive updates had a non-finite loss "
          f"or gradient (step {done}); config.log.max_bad_steps="
          f"{c.log.max_bad_steps}. Lower config.optim.lr or check the data; "
          "the last checkpoint is intact.")

  pending = None
  with ckpt_lib.PreemptionGuard() as guard:
    for step in range(start, total_steps):
      carry, dev_metrics, extras = hooks.step(carry, step)
      if pending is not None:  # read step t-1 while step t runs
        finish(pending)
      pending = (step, dev_metrics, extras)
      done = step + 1
      eval_now = (hooks.evaluate is not None and c.eval.every
                  and done % c.eval.every == 0 and done < total_steps)
      save_now = c.checkpoint.every and done % c.checkpoint.every == 0
      stop = guard.stop_requested(done)
      if eval_now or save_now or stop:
        finish(pending)
        pending = None
      if eval_now:
        writer.write_scalars(done, hooks.evaluate(carry, done))
      if save_now or stop:
        save(done)
      if stop:
        logging.warning("SIGTERM: saved step %d; stopping", done)
        ckpt.wait()
        ckpt.close()
        writer.close()
        return carry, state["last"]
    if pending is not None:
      finish(pending)
  last = state["last"]
  if hooks.evaluate is not None:
    ev = hooks.evaluate(carry, total_steps)
    writer.write_scalars(total_steps, ev)
    last.update(ev)
  if ckpt.latest_step() != total_steps:
    save(total_steps)
  ckpt.wait()
  ckpt.close()
  writer.close()
  return carry, last
