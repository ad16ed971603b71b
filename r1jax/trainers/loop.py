"""The host loop shared by the SFT and GRPO stages.

It only does I/O: dispatch step t+1 before reading step t's metrics
(nanodo), write metrics and samples through `metrics.Writer`, checkpoint
every N steps or minutes, at the end and on SIGTERM or Ctrl-C, evaluate,
and abort after too many consecutive non-finite updates. Everything a step
consumes (data, RNG) is a function of the step number, so a resumed run
repeats an uninterrupted one exactly, metrics.jsonl rows included.
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


def _ready(tree) -> bool:
  """Whether a dispatched step's outputs are computed (never blocks)."""
  return all(x.is_ready() for x in jax.tree.leaves(tree)
             if isinstance(x, jax.Array))


def save_every(c, total_steps: int) -> int:
  """Steps between periodic saves (0: none), from config.checkpoint.every."""
  every = int(c.checkpoint.every)
  if every < -1:
    raise ValueError(f"config.checkpoint.every={every}: use N > 0 (steps), "
                     "0 (auto) or -1 (only at the end)")
  if every == 0:
    return min(100, max(1, total_steps // 10))
  return max(every, 0)


def _save_seconds(c) -> float:
  minutes = float(c.checkpoint.get("every_minutes", 0.0))
  if minutes < 0:
    raise ValueError(f"config.checkpoint.every_minutes={minutes}: use a "
                     "number of minutes >= 0 (0 = off)")
  return minutes * 60.0


def run(c, workdir: str, carry, hooks: Hooks, *, total_steps: int,
        tokens_per_step: Callable[[dict], float] | None = None,
        flops_per_token: float = 0.0,
        clock: Callable[[], float] = time.perf_counter) -> tuple[Any, dict]:
  """Runs (or resumes) the loop; returns (carry, last metrics).

  On SIGTERM or a first SIGINT (Ctrl-C) it saves the current step and
  returns normally; rerunning the same command resumes there. Timing
  metrics are in seconds of `clock`: time/step_s runs from one step's
  completion to the next, eval and checkpoint time excluded (reported as
  time/eval_s and time/checkpoint_s).
  """
  save_steps = save_every(c, total_steps)
  save_s = _save_seconds(c)
  ckpt = ckpt_lib.Checkpointer(f"{workdir}/checkpoints", keep=c.checkpoint.keep)
  start, extra = 0, {}
  if ckpt.latest_step() is not None:
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        carry)
    carry, extra = ckpt.restore(abstract)
    start = int(extra["step"])
    if start > total_steps:
      raise ValueError(f"{workdir} holds a checkpoint at step {start}, past "
                       f"config.steps={total_steps}; raise config.steps or "
                       "use a new workdir")
    logging.info("resumed from %s at step %d", workdir, start)
  writer = metrics_lib.Writer(workdir, start_step=start)
  progress = metrics_lib.Progress(total_steps, start_step=start, clock=clock)
  # t: when the last step completed (or an eval/save ended, if later);
  # overhead_s/checkpoint_s: eval and save seconds not yet reported.
  state = {"t": clock(), "last": dict(extra.get("metrics", {})),
           "overhead_s": 0.0, "checkpoint_s": 0.0, "saved_at": clock()}

  def overhead(t0: float) -> float:
    now = clock()
    state["overhead_s"] += now - t0
    state["t"] = max(state["t"], now)
    return now - t0

  def save(step: int, evaluated: bool = True) -> None:
    """`evaluated`: the eval due at `step` is written (a rerun skips it)."""
    t0 = clock()
    last = {k: v for k, v in state["last"].items() if np.isfinite(v)}
    ckpt.save(step, carry, {"step": step, "data_position": step,
                            "evaluated": evaluated, "metrics": last},
              force=True)
    state["checkpoint_s"] += overhead(t0)
    state["saved_at"] = clock()

  def evaluate(step: int) -> dict:
    t0 = clock()
    ev = dict(hooks.evaluate(carry, step))
    ev["time/eval_s"] = overhead(t0)
    writer.write_scalars(step, ev)
    return ev

  def finish(pending) -> None:
    """Metrics and samples of a dispatched step, once it has run."""
    p_step, p_metrics, p_extras, done_at = pending
    m = _scalars(common.to_host(p_metrics))
    done_at = done_at if done_at is not None else clock()
    if hooks.host_metrics is not None:
      m.update(hooks.host_metrics(p_step, m, p_extras))
    dt = max(done_at - state["t"], 1e-9)
    m["time/step_s"], state["t"] = dt, max(state["t"], done_at)
    if tokens_per_step is not None:
      tok = tokens_per_step(m)
      m["time/tokens_per_s"] = tok / dt
      if flops_per_token:
        m["time/model_tflops"] = flops_per_token * tok / dt / 1e12
    m.update({f"time/{k}": v for k, v in progress.update(
        p_step + 1, dt, state["overhead_s"]).items()})
    state["overhead_s"] = 0.0
    done = p_step + 1
    if done % c.log.every == 0 or done == total_steps:
      if state["checkpoint_s"]:
        m["time/checkpoint_s"], state["checkpoint_s"] = (
            state["checkpoint_s"], 0.0)
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

  def close():
    ckpt.wait()
    ckpt.close()
    writer.close()

  # SIGTERM / Ctrl-C during the first eval or the last steps (eval, save)
  # stop at the next step or let them finish; a second Ctrl-C aborts.
  with ckpt_lib.PreemptionGuard() as guard:
    if start == 0 and hooks.evaluate is not None:
      evaluate(0)
    state["t"] = clock()
    pending = None
    for step in range(start, total_steps):
      dispatched = clock()
      carry, dev_metrics, extras = hooks.step(carry, step)
      # Completion times, as early as they are known: a step ready once
      # dispatched (the dispatch blocked) completed now; step t-1, if it
      # completed during step t's dispatch, at that dispatch's start.
      if pending is not None and pending[3] is None and _ready(pending[1]):
        pending = (*pending[:3], dispatched)
      now = clock() if _ready(dev_metrics) else None
      if pending is not None:  # read step t-1 while step t runs
        finish(pending)
      pending = (step, dev_metrics, extras, now)
      done = step + 1
      eval_now = (hooks.evaluate is not None and c.eval.every
                  and done % c.eval.every == 0 and done < total_steps)
      stop, timed = guard.poll(
          done, bool(save_s) and clock() - state["saved_at"] >= save_s)
      # Saves due at the last step happen after the final eval, below.
      save_now = done < total_steps and (
          timed or (save_steps and done % save_steps == 0))
      if eval_now or save_now or stop:
        finish(pending)
        pending = None
      if eval_now:
        evaluate(done)
      if save_now or stop:
        save(done, evaluated=done < total_steps)
      if stop:
        close()
        logging.warning("interrupted (%s): saved step %d; rerun the same "
                        "command to resume",
                        guard.signal_name or "signal on another process",
                        done)
        return carry, state["last"]
    if pending is not None:
      finish(pending)
    last = state["last"]
    # A rerun of a finished run has nothing to do (and returns its metrics).
    if start < total_steps or (hooks.evaluate is not None
                               and not extra.get("evaluated", True)):
      if hooks.evaluate is not None:
        last.update(evaluate(total_steps))
      save(total_steps)
  close()
  return carry, last
