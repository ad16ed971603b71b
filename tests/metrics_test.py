"""Tests for r1jax.metrics."""
import glob
import json
import math
import os

import jax.numpy as jnp
import numpy as np
import pytest

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


def test_fresh_start_drops_every_row(tmp_path):
  """A rerun from step 0 (no checkpoint) writes step 0's eval again."""
  workdir = str(tmp_path)
  with metrics.Writer(workdir) as w:
    w.write_scalars(0, {"eval/acc": 0.1})
    w.write_scalars(1, {"loss": 1.0})
    w.write_texts(1, {"s": "1"})
  with metrics.Writer(workdir, start_step=0) as w:
    w.write_scalars(0, {"eval/acc": 0.1})
  assert _rows(os.path.join(workdir, metrics.METRICS)) == [
      {"step": 0, "eval/acc": 0.1}]
  assert not _rows(os.path.join(workdir, metrics.SAMPLES))


def test_progress_from_step_times_and_overhead():
  p = metrics.Progress(total_steps=10, window=2, clock=lambda: 0.0)
  assert math.isnan(p.update(1, step_s=30.0)["steps_per_s"])  # compile
  p.update(2, step_s=1.0)
  p.update(3, step_s=0.5, overhead_s=4.0)  # an eval before step 3
  out = p.update(4, step_s=0.5)
  # 2 steps / 1 s in the window; ETA: 6 x (0.5 s + 4 s / 3 steps).
  assert out["steps_per_s"] == 2.0 and out["eta_s"] == pytest.approx(11.0)


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


def _synthetic_run(path, steps=40, eval_every=10):
  """A metrics.jsonl shaped like a GRPO run: dense training, sparse eval."""
  rng = np.random.default_rng(0)
  with open(path, "w") as f:
    for s in range(steps + 1):
      row = {"step": s}
      if s:
        row.update({"reward/accuracy": 0.2 + 0.005 * s,
                    "reward/total": 1.0 + 0.01 * s,
                    "length/mean": 28 + rng.normal(),
                    "reflection/frac_any": 0.15,
                    "reflection/words_mean": 0.4})
      if s % eval_every == 0:
        row.update({"eval/pass@1": 0.3 + 0.01 * s, "eval/pass@1_stderr": 0.04,
                    "eval/format": 0.9, "eval/length_mean": 27.0})
      f.write(json.dumps(row) + "\n")


def test_draw_curves_units_bands_and_markers(tmp_path):
  path = str(tmp_path / metrics.METRICS)
  _synthetic_run(path)
  fig = metrics.draw_curves(metrics.read_metrics(path), [
      ("held-out", ["eval/pass@1", "eval/pass@1_stderr", "eval/format"]),
      ("reward", ["reward/accuracy", "reward/total"]),
      ("length", ["length/mean", "eval/length_mean"]),
      # A fraction and a count: split into two axes, one unit each.
      ("reflection", ["reflection/frac_any", "reflection/words_mean"]),
  ], cols=2)
  axes = [ax for ax in fig.axes if ax.get_visible()]
  assert [ax.get_ylabel() for ax in axes] == [
      "fraction (0-1)", "reward per sample", "tokens", "fraction (0-1)",
      "words per response"]
  heldout, reward, length = axes[:3]
  assert heldout.get_ylim() == (-0.02, 1.02)
  lines = {l.get_label(): l for ax in axes for l in ax.get_lines()}
  # The stderr series is a band around its mean, not a line of its own.
  assert sorted(l.get_label() for l in heldout.get_lines()) == [
      "eval/format", "eval/pass@1 ± 1 s.e."]
  [band] = heldout.collections
  np.testing.assert_allclose(band.get_paths()[0].vertices[:, 1].min(),
                             0.3 - 0.04)
  assert not reward.collections and not length.collections
  for name in ("eval/pass@1 ± 1 s.e.", "eval/format", "eval/length_mean"):
    assert lines[name].get_marker() == "o", name  # 5 held-out points
  for name in ("reward/accuracy", "length/mean", "reflection/words_mean"):
    assert lines[name].get_marker() in ("None", None, ""), name


def test_rl_curves_without_held_out_evaluations(tmp_path):
  """An RL run without held-out evaluations: its curves.png has no empty
  held-out panel, and the held-out reflective words share the training
  ones' unit."""
  path = str(tmp_path / metrics.METRICS)
  _synthetic_run(path, eval_every=1000)  # an eval row at step 0 only
  data = metrics.read_metrics(path)
  del data["eval/pass@1"], data["eval/pass@1_stderr"], data["eval/format"]
  assert metrics.logged_panels(data, metrics.RL_CURVES) == [
      ("training reward per function", ["reward/accuracy", "reward/total"]),
      ("response length (tokens)", ["length/mean", "eval/length_mean"]),
      ("reflective words per response",
       ["reflection/frac_any", "reflection/words_mean"])]
  assert metrics.unit_of("eval/reflection/words_mean") == metrics.unit_of(
      "reflection/words_mean")


def test_unit_of():
  assert metrics.unit_of("eval/cons@k") == "fraction (0-1)"
  assert metrics.unit_of("eval/cons@k_stderr") == "fraction (0-1)"
  assert metrics.unit_of("truncated_frac") == "fraction (0-1)"
  assert metrics.unit_of("time/step_s") == "seconds"
  assert metrics.unit_of("time/tokens_per_s") == "tokens / s"
  assert metrics.unit_of("kl_k3") == "nats per token"
  assert metrics.unit_of("something_new") == "value"
