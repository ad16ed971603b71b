"""The grpo and sft stages end to end: main, exact resume after SIGTERM,
config errors that name the field."""
import json
import os
import subprocess
import sys

import pytest

from r1jax.trainers import grpo, sft
from tests.trainers import util


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return util.tokenizer(str(tmp_path_factory.mktemp("tok")))


@pytest.mark.parametrize("stage", ["grpo", "sft"])
def test_sigterm_then_resume_equals_uninterrupted(stage, tmp_path, tok_path,
                                                  monkeypatch):
  if stage == "grpo":
    cfg = lambda: util.grpo_config(tok_path)  # noqa: E731
    run = grpo.run
  else:
    cfg = lambda: util.sft_config_tiny(tokenizer=tok_path)  # noqa: E731
    run = sft.run
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  run(cfg(), whole)
  util.sigterm_at(monkeypatch, 1)
  run(cfg(), parts)
  # Stopped cleanly after step 2 with a checkpoint; nothing after it, and
  # no final_metrics.json (it means a finished run: scripts skip those).
  assert sorted(util.metric_rows(parts)) == [1, 2]
  assert os.path.isdir(os.path.join(parts, "checkpoints", "2"))
  final = os.path.join(parts, "final_metrics.json")
  assert not os.path.exists(final)
  run(cfg(), parts)  # resumes at step 2
  assert os.path.exists(final)
  a, b = util.metric_rows(whole), util.metric_rows(parts)
  assert sorted(a) == sorted(b) == [1, 2, 3, 4]
  for step in a:
    assert a[step].keys() == b[step].keys()
    for k, v in a[step].items():
      assert b[step][k] == pytest.approx(v, rel=1e-6, abs=1e-9), (step, k)
  if stage == "grpo":
    assert a[4]["reward/format"] is not None and "entropy" in a[4]
    samples = [json.loads(l) for l in open(os.path.join(whole,
                                                        "samples.jsonl"))]
    assert samples and {"prompt", "reference", "rewards"} <= set(samples[0])
    assert samples == [json.loads(l) for l in
                       open(os.path.join(parts, "samples.jsonl"))]


def _main(args, cwd):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r1jax.main", *args],
                        cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=600)


def test_main_pretrain_then_grpo_from_its_workdir(tmp_path, tok_path):
  """`main` for both stages, chained through the workdir (init_from)."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
  base, rl = str(tmp_path / "base"), str(tmp_path / "rl")
  r = _main(["--config=configs/sft.py:tiny", f"--workdir={base}",
             "--config.steps=2", "--config.data.batch_size=8",
             "--config.data.seq_len=64", "--config.vocab_size=400",
             "--config.data.corpus_kwargs.num_docs=100"], root)
  assert r.returncode == 0, r.stderr[-3000:]
  assert os.path.exists(os.path.join(base, "tokenizer.model"))
  r = _main(["--config=configs/r1_zero.py:tiny", f"--workdir={rl}",
             f"--config.init_from={base}", "--config.steps=2",
             "--config.template=plain", "--config.max_prompt_len=64",
             "--config.rl.num_prompts=4", "--config.rl.group_size=4",
             "--config.rl.max_new_tokens=8", "--config.eval.num_prompts=4",
             "--config.eval.k=2", "--config.loss.preset=dapo",
             "--config.loss.eps_high=0.3", "--config.checkpoint.export_hf"],
            root)
  assert r.returncode == 0, r.stderr[-3000:]
  rows = util.metric_rows(rl)
  assert sorted(rows) == [0, 1, 2]
  assert "eval/pass@1" in rows[0] and "eval/cons@k" in rows[2]
  assert "loss" in rows[2] and "reflection/words_mean" in rows[2]
  cfg = json.load(open(os.path.join(rl, "config.json")))
  assert cfg["loss"]["eps_high"] == 0.3
  assert os.path.exists(os.path.join(rl, "hf", "config.json"))


@pytest.mark.parametrize("override, field", [
    ({"rl.group_size": 1}, "config.rl.group_size"),
    ({"loss.preset": "ppo"}, "ppo"),
    ({"loss.aggregation": "mean"}, "aggregation"),
    ({"mesh.shape": (3, -1, 1)}, "config.mesh.shape"),
    ({"rl.num_prompts": 3}, "config.rl.num_prompts"),
    ({"rl.microbatches": 3}, "microbatches"),
    ({"data.task": "chess"}, "config.data.task"),
    ({"rewards.language": 1.0}, "config.rewards.language"),
    ({"rl.oversample": 2}, "config.rl.oversample"),
    ({"model.preset": "gpt5"}, "config.model.preset"),
    ({"optim.schedule": "step"}, "config.optim.schedule"),
])
def test_grpo_config_errors_name_the_field(override, field, tok_path,
                                           tmp_path):
  with pytest.raises(ValueError, match=field.replace(".", r"\.")):
    c = util.grpo_config(tok_path, **override)
    grpo.validate(c)
    if "rewards." in field:  # device rewards are checked against the task
      grpo.build(c, str(tmp_path))


@pytest.mark.parametrize("override, field", [
    ({"data.batch_size": 12}, "config.data.batch_size"),
    ({"data.corpus": "nope"}, "config.data.corpus"),
    ({"data.microbatches": 3}, "config.data.microbatches"),
])
def test_sft_config_errors_name_the_field(override, field):
  with pytest.raises(ValueError, match=field.replace(".", r"\.")):
    sft.validate(util.sft_config_tiny(**override))


def test_host_rewards_on_a_gsm8k_file(tmp_path, tok_path):
  """Two-program path: math-verify accuracy on the host, GSM8K format."""
  rows = [{"question": f"What is {i} + {i}?",
           "answer": f"{i} plus {i}.\n#### {2 * i}"} for i in range(12)]
  path = tmp_path / "gsm8k.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  c = util.grpo_config(tok_path, **{
      "data.train_file": str(path), "data.format": "gsm8k",
      "data.eval_file": str(path), "rl.host_rewards": True, "steps": 2,
      "eval.num_prompts": 4, "eval.k": 2, "rewards.language": 0.5})
  out = grpo.run(c, str(tmp_path / "run"))
  for k in ("reward/accuracy", "reward/format", "reward/language",
            "reward/total", "loss", "eval/pass@1"):
    assert k in out, k
  rows = util.metric_rows(str(tmp_path / "run"))
  assert sorted(rows) == [0, 1, 2]
