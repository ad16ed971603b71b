"""What a training run writes besides checkpoints and metrics: its
resolved config and fingerprint at the start, and at its end
final_metrics.json, the optional HF export and (RL) curves.png.
Process 0 writes; every process joins the gathers of the export.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from r1jax import checkpoint as ckpt_lib
from r1jax import metrics as metrics_lib
from r1jax import runinfo


def write_config(c, workdir: str) -> dict:
  """The resolved config and its fingerprint into the workdir (process 0;
  r1jax/runinfo.py). Every process raises RunMismatchError, before anything
  runs, if the workdir holds a run made with other result-changing values
  (unless config.resume=force). Returns the resolved config."""
  return runinfo.record(c, workdir)


def saved_final_step(workdir: str, total_steps: int) -> bool:
  """Whether the run in `workdir` saved its last step: a loop stopped by
  SIGTERM / Ctrl-C saved an earlier one and returned normally."""
  ckpt = ckpt_lib.Checkpointer(ckpt_lib.checkpoints_dir(workdir),
                               async_save=False)
  try:
    return ckpt.latest_step() == total_steps
  finally:
    ckpt.close()


def finish(c, workdir: str, cfg, params, last: dict,
           total_steps: int) -> dict:
  """After training: optional HF export (every process joins its gathers;
  process 0 writes) and final_metrics.json (process 0). Returns `last`.
  Neither when the loop stopped before `total_steps` (a signal): the
  files mean a finished run, and the rerun resumes and writes them."""
  if not saved_final_step(workdir, total_steps):
    return last
  if c.checkpoint.export_hf:
    ckpt_lib.export_hf(os.path.join(workdir, "hf"), cfg, params,
                       tokenizer=workdir)
  if jax.process_index() == 0:
    out = {k: v for k, v in last.items() if np.isfinite(v)}
    # With the run's resolved config, fingerprint and code version.
    out.update(runinfo.summary(c, workdir))
    with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
      json.dump(out, f, indent=2)
  return last


def write_rl_curves(c, workdir: str) -> None:
  """WORKDIR/curves.png of an RL run's metrics.jsonl (metrics.RL_CURVES;
  process 0) when config.log.curves is set."""
  path = os.path.join(workdir, metrics_lib.METRICS)
  if c.log.get("curves") and jax.process_index() == 0 and os.path.isfile(
      path):
    metrics_lib.plot_curves(path, os.path.join(workdir, metrics_lib.CURVES),
                            metrics_lib.RL_CURVES, cols=2, only_logged=True)
