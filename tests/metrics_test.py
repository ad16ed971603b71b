"""Tests for r1jax.metrics."""
import glob
import json
import math
import os

import jax.numpy as jnp
import numpy as np

from r1jax import metrics


def _rows(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_writer_jsonl_tensorboard_and_nan(tmp_path):
  workdir = str(tmp_path)
  with metrics.Writer(workdir) as w:
    for step in range(1, 4):
      w.write_scalars(step, {"loss": jnp.float32(1.0 / step),
                             "acc": np.float64(0.5), "n": step})
    w.write_scalars(4, {"loss": float("nan"), "kl": jnp.inf})
    w.write_texts(4, {"sample": "2 + 2 = <answer>4</answer>"})
    w.flush()
  rows = _rows(os.path.join(workdir, metrics.METRICS))
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert rows[1] == {"step": 2, "loss": 0.5, "acc": 0.5, "n": 2.0}
  assert rows[3] == {"step": 4, "loss": None, "kl": None}
  assert _rows(os.path.join(workdir, metrics.SAMPLES)) == [
      {"step": 4, "sample": "2 + 2 = <answer>4</answer>"}]
  assert glob.glob(os.path.join(workdir, "events.out.tfevents.*"))

  data = metrics.read_metrics(os.path.join(workdir, metrics.METRICS))
  steps, loss = data["loss"]
  np.testing.assert_array_equal(steps, [1, 2, 3, 4])
  np.testing.assert_allclose(loss[:3], [1.0, 0.5, 1 / 3], rtol=1e-6)
  assert np.isnan(loss[3]) and np.isnan(data["kl"][1][0])
  assert data["acc"][0].tolist() == [1, 2, 3]

  png = metrics.plot_curves(
      os.path.join(workdir, metrics.METRICS), str(tmp_path / "p" / "c.png"),
      [("loss", ["loss", "missing"]), ("acc", ["acc"]), ("none", ["x"])])
  with open(png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_resume_drops_rows_past_start_step(tmp_path):
  workdir = str(tmp_path)
  with metrics.Writer(workdir) as w:
    for step in range(1, 6):
      w.write_scalars(step, {"loss": step})
      w.write_texts(step, {"s": str(step)})
  with open(os.path.join(workdir, metrics.METRICS), "a") as f:
    f.write('{"step": 6, "lo')  # torn by a crash
  with metrics.Writer(workdir, start_step=3) as w:
    w.write_scalars(4, {"loss": 40})
  assert [(r["step"], r["loss"]) for r in _rows(
      os.path.join(workdir, metrics.METRICS))] == [(1, 1), (2, 2), (3, 3),
                                                   (4, 40)]
  assert [r["step"] for r in _rows(
      os.path.join(workdir, metrics.SAMPLES))] == [1, 2, 3]


def test_non_chief_writes_no_files(tmp_path):
  with metrics.Writer(str(tmp_path / "w"), is_chief=False) as w:
    w.write_scalars(1, {"loss": 1.0})
  assert not os.path.exists(tmp_path / "w")


def test_progress_rate_ignores_compile_step():
  now = [0.0]
  p = metrics.Progress(total_steps=100, start_step=0, window=4,
                       clock=lambda: now[0])
  now[0] = 30.0  # First step: compilation.
  first = p.update(1)
  assert math.isnan(first["steps_per_s"]) and math.isnan(first["eta_s"])
  for step in range(2, 11):
    now[0] += 0.5
    out = p.update(step)
  assert out["steps_per_s"] == 2.0 and out["eta_s"] == 45.0
  assert metrics._duration(73) == "1m13s"  # pylint: disable=protected-access
  assert metrics._duration(3725) == "1h02m"  # pylint: disable=protected-access


def test_mean_stderr():
  mean, se = metrics.mean_stderr([1.0, 2.0, 3.0, 4.0])
  assert mean == 2.5
  np.testing.assert_allclose(se, np.std([1, 2, 3, 4], ddof=1) / 2)
  assert math.isnan(metrics.mean_stderr([1.0])[1])
