"""Metric writing (TensorBoard, logs, JSON lines), progress and plots.

Files in a workdir, written by the chief process only:

  workdir/metrics.jsonl          {"step": s, "<name>": value, ...} per write
  workdir/samples.jsonl          {"step": s, "<name>": text, ...} per write
  workdir/events.out.tfevents.*  TensorBoard scalars and texts

Non-finite values are written as JSON null (JSON has no NaN) and read back
as NaN. A Writer resumed at `start_step` first drops the rows that the run
will write again: those past it, and all of them for a fresh run
(start_step 0, which rewrites step 0's eval). Rows at a resumed
start_step > 0 were written before its checkpoint and are kept. So after
any interrupts and resumes the files hold the rows of an uninterrupted run.
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


def truncate_rows(path: str, start_step: int) -> None:
  """Drops rows with step > start_step, all rows when start_step is 0, and
  torn lines; atomically."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      step = json.loads(line)["step"]
      if step <= start_step and start_step > 0:
        kept.append(line if line.endswith("\n") else line + "\n")
    except (ValueError, KeyError, TypeError):
      pass  # A line torn by a crash mid-write.
  if len(kept) == len(lines) and all(a == b for a, b in zip(kept, lines)):
    return
  logging.info("%s: dropped %d rows a run from step %d writes again", path,
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
    self._dir = workdir
    if self.is_chief:
      os.makedirs(workdir, exist_ok=True)
      for name in (METRICS, SAMPLES):
        truncate_rows(os.path.join(workdir, name), start_step)
      self._files[METRICS] = open(os.path.join(workdir, METRICS), "a")

  def _append(self, name: str, row: dict) -> None:
    if self.is_chief:
      # Opened on first use: a stage that samples nothing leaves no empty
      # samples.jsonl behind.
      if name not in self._files:
        self._files[name] = open(os.path.join(self._dir, name), "a")
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

  The loop passes each step's time (`step_s`, evals and checkpoints
  excluded, as in time/step_s) and the seconds spent outside steps since
  the previous update (`overhead_s`: evals, checkpoints). steps/s is then
  1 / (mean step_s over the window), and the ETA adds the run's average
  overhead per step. Without `step_s` the time since the previous update
  (by `clock`) is used. The first update's time is never counted: it
  includes compilation.
  """

  def __init__(self, total_steps: int, start_step: int = 0, *,
               window: int = 20, clock: Callable[[], float] = time.monotonic):
    self.total_steps = total_steps
    self.start_step = start_step
    self._clock = clock
    self._last: tuple[float, int] | None = None  # (time, step) of last update
    self._window: collections.deque = collections.deque(maxlen=window)
    self._overhead_s = 0.0
    self._counted_steps = 0

  def update(self, step: int, step_s: float | None = None,
             overhead_s: float = 0.0) -> dict[str, float]:
    now = self._clock()
    if self._last is not None and step > self._last[1]:
      steps = step - self._last[1]
      seconds = now - self._last[0] if step_s is None else step_s
      self._window.append((steps, seconds))
      self._overhead_s += overhead_s
      self._counted_steps += steps
    self._last = (now, step)
    steps = sum(n for n, _ in self._window)
    seconds = sum(t for _, t in self._window)
    rate = steps / seconds if seconds > 0 and steps else float("nan")
    per_step = (1 / rate + self._overhead_s / self._counted_steps
                if rate > 0 else float("nan"))
    eta = (self.total_steps - step) * per_step
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


FRACTION = "fraction (0-1)"
# The y-axis unit of each metric: the first pattern that matches wins (`x*`
# a prefix, `*x*` a substring, else the exact name; `NAME_stderr` takes
# NAME's unit). A panel never mixes units: plot_curves splits it.
UNITS: tuple[tuple[str, str], ...] = (
    ("eval/pass@*", FRACTION), ("eval/cons@*", FRACTION),
    ("eval/best@*", FRACTION), ("eval/format*", FRACTION),
    ("eval/acc*", FRACTION), ("*frac*", FRACTION),
    ("token_accuracy", FRACTION), ("clip_*", FRACTION),
    ("eval/length*", "tokens"), ("length/*", "tokens"), ("tokens*", "tokens"),
    ("eval/k", "samples per prompt"), ("eval/num_prompts", "prompts"),
    ("reward/*", "reward per sample"),
    ("reflection/words*", "words per response"),
    ("eval/reflection/words*", "words per response"),
    ("time/tokens_per_s", "tokens / s"), ("time/steps_per_s", "steps / s"),
    ("time/model_tflops", "TFLOP/s"), ("time/*", "seconds"),
    ("kl*", "nats per token"), ("entropy*", "nats per token"),
    ("logp_diff*", "nats per token"), ("ratio*", "probability ratio"),
    ("lr", "learning rate"), ("grad_norm", "gradient L2 norm"),
    ("perplexity", "perplexity"), ("loss", "loss"),
    ("advantage*", "advantage"), ("epoch", "epochs"),
    ("bad_steps", "steps"), ("skipped_updates", "updates"),
)
STDERR_SUFFIX = "_stderr"  # r1jax.evaluation.passk: (mean, stderr) pairs
# Series with at most this many points, or logged on under half the steps
# of the densest series (held-out evaluations), are drawn with markers.
SPARSE_POINTS = 25
# (title, metric names) panels of an RL run's curves.png (trainers/grpo).
RL_CURVES = (
    ("held-out accuracy (T=0.6)",
     ("eval/pass@1", "eval/cons@k", "eval/format")),
    ("training reward per function",
     ("reward/accuracy", "reward/format", "reward/total")),
    ("response length (tokens)", ("length/mean", "eval/length_mean")),
    ("reflective words per response",
     ("reflection/frac_any", "reflection/words_mean",
      "eval/reflection/words_mean")),
)
CURVES = "curves.png"


def _matches(name: str, pattern: str) -> bool:
  if len(pattern) > 1 and pattern[0] == pattern[-1] == "*":
    return pattern[1:-1] in name
  if pattern.endswith("*"):
    return name.startswith(pattern[:-1])
  return name == pattern


def unit_of(name: str) -> str:
  """The y-axis label of metric `name` (see UNITS); 'value' if unknown."""
  if name.endswith(STDERR_SUFFIX):
    name = name[:-len(STDERR_SUFFIX)]
  return next((u for p, u in UNITS if _matches(name, p)), "value")


def _split_by_unit(panels) -> list[tuple[str, str, list[str]]]:
  """(title, unit, names) per axis: a panel with k units becomes k axes."""
  out = []
  for title, names in panels:
    by_unit: dict[str, list[str]] = {}
    for n in names:
      by_unit.setdefault(unit_of(n), []).append(n)
    # Parts of a split panel keep its title; y labels tell them apart.
    out += [(title, u, ns) for u, ns in by_unit.items()] or [
        (title, "value", [])]
  return out


def _draw_series(ax, name: str, data, densest: int) -> None:
  """One line; markers when sparse; a +-1 standard error band if logged."""
  steps, values = data[name]
  ok = ~np.isnan(values)
  sparse = ok.sum() <= SPARSE_POINTS or 2 * len(steps) < densest
  se = data.get(name + STDERR_SUFFIX)
  label = name + (" ± 1 s.e." if se is not None else "")
  (line,) = ax.plot(steps[ok], values[ok], label=label,
                    marker="o" if sparse else None, markersize=4)
  if se is not None:
    se_by_step = dict(zip(se[0].tolist(), se[1].tolist()))
    err = np.array([se_by_step.get(s, np.nan) for s in steps[ok].tolist()])
    ax.fill_between(steps[ok], values[ok] - err, values[ok] + err,
                    color=line.get_color(), alpha=0.2, linewidth=0)


def draw_curves(data: Mapping[str, tuple[np.ndarray, np.ndarray]],
                panels: Sequence[tuple[str, Sequence[str]]], cols: int = 3):
  """A matplotlib Figure of `data` (read_metrics), one unit per axis.

  Each (title, metric names) panel gets one axis per unit among its names
  (UNITS), labelled with that unit; `NAME_stderr` series are drawn as
  shaded +-1 standard error bands around NAME, not as lines; sparse series
  (held-out evaluations) get markers; fraction axes span 0 to 1. Names
  missing from `data` are skipped (e.g. eval metrics early on).
  """
  # Imported here: plotting is optional and matplotlib is slow to import.
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top

  axes_spec = _split_by_unit(panels)
  cols = max(1, min(cols, len(axes_spec)))
  rows = max(1, math.ceil(len(axes_spec) / cols))
  densest = max((len(s) for s, _ in data.values()), default=0)
  # A bare Figure on the Agg canvas leaves pyplot's global backend alone.
  fig = figure.Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
  backend_agg.FigureCanvasAgg(fig)
  axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
  for ax, (title, unit, names) in zip(axes, axes_spec):
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    drawn = [n for n in names if n in data and not (
        n.endswith(STDERR_SUFFIX) and n[:-len(STDERR_SUFFIX)] in names)]
    for name in drawn:
      _draw_series(ax, name, data, densest)
    if unit == FRACTION:
      ax.set_ylim(-0.02, 1.02)
    if drawn:
      ax.legend(fontsize="small")
    else:
      ax.text(0.5, 0.5, "no data", ha="center", va="center",
              transform=ax.transAxes)
  for ax in axes[len(axes_spec):]:
    ax.set_visible(False)
  return fig


def logged_panels(data, panels) -> list[tuple[str, list[str]]]:
  """`panels` without the names `data` (read_metrics) lacks, nor the
  panels left with none."""
  out = [(t, [n for n in names if n in data]) for t, names in panels]
  return [(t, names) for t, names in out if names]


def plot_curves(metrics_path: str, out_png: str,
                panels: Sequence[tuple[str, Sequence[str]]],
                cols: int = 3, only_logged: bool = False) -> str:
  """draw_curves of a metrics.jsonl, saved as `out_png`; returns its path.
  only_logged: leave out the names the file never logged, and panels left
  with none (e.g. held-out curves of a run without evaluations)."""
  data = read_metrics(metrics_path)
  fig = draw_curves(data, logged_panels(data, panels) if only_logged
                    else panels, cols)
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
