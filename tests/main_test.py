"""Tests for r1jax.main: one-line usage errors, tracebacks for crashes."""
import importlib
import os
import subprocess
import sys

import ml_collections
import pytest

from r1jax import main

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args, workdir):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(
      [sys.executable, "-m", "r1jax.main", f"--workdir={workdir}", *args],
      cwd=_ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, expected", [
    (["--config=configs/r1_zero.py:tiny", "--config.rl.num_prompt=4"],
     "error: config.rl.num_prompt: no such field; did you mean "
     "'num_prompts'?"),
    (["--config=configs/r1_zero_demo.py:short",
      "--config.stages.rl.rewards.fromat=0"],
     "error: config.stages.rl.rewards.fromat: no such field; did you mean "
     "'format'?"),
    # A pipeline's stage addressed as before the demo became one.
    (["--config=configs/r1_zero_demo.py:short", "--config.grpo.steps=60"],
     "error: config.grpo: no such field; did you mean config.stages.rl? a "
     "pipeline's stages are config.stages.<name>: base (pretrain), rl "
     "(grpo)"),
    (["--config=configs/r1_zero.py:tiny", "--config.rl.num_prompts=abc"],
     "error: flag --config.rl.num_prompts=abc: invalid literal for int()"),
    (["--config=configs/r1_zero.py:nope"],
     "error: --config=configs/r1_zero.py:nope: configs/r1_zero.py: unknown "
     "variant 'nope'"),
    # Fails the stage's validate(config), after the stage module imports.
    (["--config=configs/r1_zero.py:tiny", "--config.rl.temperature=0.0"],
     "error: config.rl.temperature=0.0 must be > 0"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, expected):
  r = _main(*args, workdir=str(tmp_path / "w"))
  assert r.returncode == 2, r.stderr[-3000:]
  assert r.stderr.startswith(expected), r.stderr[-3000:]
  assert r.stderr.count("\n") == 1 and not r.stdout, r.stderr[-3000:]
  assert not os.path.exists(tmp_path / "w")  # nothing ran


def test_crash_in_a_stage_keeps_its_traceback(tmp_path):
  bad = tmp_path / "bad.jsonl"
  bad.write_text('{"x": 1}\n')
  r = _main("--config=configs/sft.py:tiny", "--config.data.corpus=",
            f"--config.data.train_file={bad}", workdir=str(tmp_path / "w"))
  assert r.returncode == 1, r.stderr[-3000:]
  assert "Traceback (most recent call last)" in r.stderr
  assert "line 1 has no 'prompt' field" in r.stderr.splitlines()[-1]


def test_rerun_with_other_settings_is_refused_cleanly(tmp_path):
  """The run-identity refusal (several lines: the fields, the ways out)
  reaches the user without a traceback, exit 2."""
  w = str(tmp_path / "w")
  small = ["--config=configs/sft.py:tiny", "--config.steps=2",
           "--config.data.batch_size=8", "--config.data.seq_len=64",
           "--config.data.corpus_kwargs.num_docs=50"]
  r = _main(*small, workdir=w)
  assert r.returncode == 0, r.stderr[-3000:]
  r = _main(*small, "--config.seed=1", workdir=w)
  assert r.returncode == 2, r.stderr[-3000:]
  assert "Traceback" not in r.stderr
  err = r.stderr[r.stderr.index("error: "):]
  assert "seed: 0 -> 1" in err and "--config.resume=force" in err, err


def test_field_error_walks_the_config():
  c = ml_collections.ConfigDict({"rl": {"num_prompts": 4, "top_p": 1.0},
                                 "mesh": {"shape": (1, -1, 1)}})
  assert main.field_error(c, "rl.num_prompts") is None
  assert main.field_error(c, "mesh.shape") is None
  assert main.field_error(c, "rl.num_prompt") == (
      "config.rl.num_prompt: no such field; did you mean 'num_prompts'?")
  assert main.field_error(c, "rlx.top_p") == (
      "config.rlx: no such field; did you mean 'rl'?")
  assert main.field_error(c, "rl.zzz") == (
      "config.rl.zzz: no such field; fields: num_prompts, top_p")
  assert main.field_error(c, "rl.top_p.x") == (
      "config.rl.top_p=1.0 has no field 'x'")


@pytest.mark.parametrize("stage", sorted(main.STAGES))
def test_stages_expose_validate_and_run(stage):
  module = importlib.import_module(main.STAGES[stage])
  assert callable(module.validate) and callable(module.run)
