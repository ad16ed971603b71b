"""Metric writing (TensorBoard, logs, JSON lines), progress and plots.

Files in a workdir, written by the chief process only:

  workdir/metrics.jsonl          {"step": s, "<name>": value, ...} per write
  workdir/samples.jsonl          {"step": s, "<name>": text, ...} per write
  workdir/events.out.tfevents.*  TensorBoard scalars and texts

Non-finite values are written as JSON null (JSON has no NaN) and read back
as NaN. A Writer resumed at `start_step` first drops the rows past it, so a
run restarted from a checkpoint leaves no stale or duplicate rows.
"""

from __future__ import annotations

import collections
import json
import math
import os
import time
from typing import Any, Callable, Mapping, Sequence

from absl import logging
from clu import metric_writers
import jax
import numpy as np

METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"


def _truncate(path: str, start_step: int) -> None:
  """Drops rows with step > start_step (and torn lines), atomically."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      if json.loads(line)["step"] <= start_step:
        kept.append(line if line.endswith("\n") else line + "\n")
    except (ValueError, KeyError, TypeError):
      pass  # A line torn by a crash mid-write.
  if len(kept) == len(lines) and all(a == b for a, b in zip(kept, lines)):
    return
  logging.info("%s: dropped %d rows past step %d", path,
               len(lines) - len(kept), start_step)
  with open(path + ".tmp", "w") as f:
    f.writelines(kept)
  os.replace(path + ".tmp", path)


def _to_float(value) -> float | None:
  x = float(np.asarray(value))
  return x if math.isfinite(x) else None


class Writer:
  """clu writer (TensorBoard + logging) plus metrics/samples JSON lines."""

  def __init__(self, workdir: str, *, start_step: int = 0,
               is_chief: bool | None = None):
    self.is_chief = (jax.process_index() == 0 if is_chief is None
                     else is_chief)
    # Other processes only log, so that every metric is written once.
    self._clu = metric_writers.create_default_writer(
        workdir, just_logging=not self.is_chief)
    self._files = {}
    if self.is_chief:
      os.makedirs(workdir, exist_ok=True)
      for name in (METRICS, SAMPLES):
        path = os.path.join(workdir, name)
        _truncate(path, start_step)
        self._files[name] = open(path, "a")

  def _append(self, name: str, row: dict) -> None:
    if name in self._files:
      f = self._files[name]
      f.write(json.dumps(row, allow_nan=False) + "\n")
      f.flush()  # Curves can be plotted while the run goes on.

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Scalars may be Python, numpy or jax numbers (fetched here)."""
    values = {k: _to_float(v) for k, v in scalars.items()}
    self._clu.write_scalars(int(step), {k: float("nan") if v is None else v
                                        for k, v in values.items()})
    self._append(METRICS, {"step": int(step), **values})

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    self._clu.write_texts(int(step), dict(texts))
    self._append(SAMPLES, {"step": int(step), **texts})

  def flush(self) -> None:
    self._clu.flush()
    for f in self._files.values():
      f.flush()

  def close(self) -> None:
    self._clu.close()
    for f in self._files.values():
      f.close()
    self._files = {}

  def __enter__(self) -> "Writer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "--"
  s = int(round(seconds))
  if s < 60:
    return f"{s}s"
  if s < 3600:
    return f"{s // 60}m{s % 60:02d}s"
  return f"{s // 3600}h{s // 60 % 60:02d}m"


class Progress:
  """Steps/s over a sliding window and ETA, logged on every `update`.

  The first update only starts the clock, so compilation time (spent before
  it) never counts towards the rate.
  """

  def __init__(self, total_steps: int, start_step: int = 0, *,
               window: int = 20, clock: Callable[[], float] = time.monotonic):
    self.total_steps = total_steps
    self.start_step = start_step
    self._clock = clock
    self._seen: collections.deque = collections.deque(maxlen=window + 1)

  def update(self, step: int) -> dict[str, float]:
    self._seen.append((self._clock(), step))
    (t0, s0), (t1, s1) = self._seen[0], self._seen[-1]
    rate = (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else float("nan")
    eta = (self.total_steps - step) / rate if rate > 0 else float("nan")
    speed = "--" if math.isnan(rate) else f"{rate:.3g}"
    logging.info("step %d/%d | %s steps/s | ETA %s", step, self.total_steps,
                 speed, _duration(eta))
    return {"steps_per_s": rate, "eta_s": eta}


def read_metrics(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{name: (steps, values)} from a metrics.jsonl; null reads as NaN."""
  rows: dict[str, tuple[list, list]] = {}
  with open(path) as f:
    for line in f:
      if not line.strip():
        continue
      row = json.loads(line)
      step = row.pop("step")
      for k, v in row.items():
        steps, values = rows.setdefault(k, ([], []))
        steps.append(step)
        values.append(float("nan") if v is None else v)
  return {k: (np.asarray(s, np.int64), np.asarray(v, np.float64))
          for k, (s, v) in rows.items()}


def plot_curves(metrics_path: str, out_png: str,
                panels: Sequence[tuple[str, Sequence[str]]],
                cols: int = 3) -> str:
  """One subplot per (title, metric names) panel; returns `out_png`.

  Names missing from the file are skipped (e.g. eval metrics early on).
  """
  # Imported here: plotting is optional and matplotlib is slow to import.
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top

  data = read_metrics(metrics_path)
  cols = max(1, min(cols, len(panels)))
  rows = max(1, math.ceil(len(panels) / cols))
  # A bare Figure on the Agg canvas leaves pyplot's global backend alone.
  fig = figure.Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
  backend_agg.FigureCanvasAgg(fig)
  axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
  for ax, (title, names) in zip(axes, panels):
    ax.set_title(title)
    ax.set_xlabel("step")
    drawn = [n for n in names if n in data]
    for name in drawn:
      steps, values = data[name]
      ax.plot(steps, values, label=name)
    if drawn:
      ax.legend(fontsize="small")
    else:
      ax.text(0.5, 0.5, "no data", ha="center", va="center",
              transform=ax.transAxes)
  for ax in axes[len(panels):]:
    ax.set_visible(False)
  os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
  fig.savefig(out_png, dpi=100)
  return out_png


def mean_stderr(values) -> tuple[float, float]:
  """Mean and standard error of the mean (NaN stderr below two values)."""
  x = np.asarray(values, np.float64).ravel()
  if x.size == 0:
    return float("nan"), float("nan")
  if x.size == 1:
    return float(x[0]), float("nan")
  return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))
