"""The R1-Zero CPU demo (configs/r1_zero_demo.py, a pipeline: pretrain ->
GRPO -> eval of both models), shortened (`:short`, ~3 min on 2 cores): GRPO
must beat the pretrained base model on the same held-out problems by far
more than the evaluation noise, and a rerun must skip every finished stage.
Then the demo's model teaches a smaller student
(experiments/distill_vs_rl.py, shortened): SFT on its rejection-sampled
traces and on-policy distillation must both beat the student's base. And
the demo's base learns a reward model from its own samples
(experiments/rm_demo.py, shortened): GRPO with that RM as the reward must
raise both the RM reward and the rule-checked held-out accuracy."""
import json
import os
import subprocess
import sys

from configs import r1_zero_demo
from r1jax import runinfo
from r1jax.trainers import pipeline
from tests.trainers import util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _run(args, timeout):
  # One CPU device, as the README commands run (conftest asks for 8).
  flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                   if "xla_force_host_platform_device_count" not in f)
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags)
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _main(args):
  return _run(["-m", "r1jax.main", *args], 900)


def test_short_demo_learns_and_reruns_nothing(tmp_path):
  workdir = str(tmp_path / "demo")
  args = ["--config=configs/r1_zero_demo.py:short", f"--workdir={workdir}"]
  r = _main(args)
  assert r.returncode == 0, r.stderr[-3000:]
  with open(os.path.join(workdir, pipeline.RESULTS)) as f:
    res = json.load(f)
  base, rl = (res["evals"][n]["arithmetic"] for n in ("base", "rl"))
  assert base["num_problems"] == rl["num_problems"] == 64
  assert base["n"] == rl["n"] == 8
  g = res["gains"]["rl"]["arithmetic"]
  # Paired over the same 64 problems x 8 samples. Measured (seed 0, 40 RL
  # steps): see the README's R1-Zero section. A run that does not learn
  # is within ~1 s.e.
  assert g["problems"] == 64 and g["gain"] >= 0.15, res["gains"]
  assert g["gain"] > 3 * g["stderr"], res["gains"]
  assert rl["format"] > base["format"], (base, rl)
  assert os.path.getsize(os.path.join(workdir, "rl", "curves.png")) > 0
  # The results say what produced them: the resolved config (the loss
  # preset's values filled in) and the code version.
  assert res["config"]["stages"]["rl"]["loss"]["eps_low"] == 0.2
  assert res["config"]["seed"] == 0 and res["code_version"]

  # Again: every stage finished with this config; nothing reruns.
  util.assert_rerun_runs_nothing(lambda: _main(args), workdir,
                                 ("base", "rl", "eval/base", "eval/rl"))

  # The demo's model teaches a 4x smaller student (distill_vs_rl.py).
  out = str(tmp_path / "distill")
  r = _run(["experiments/distill_vs_rl.py", f"--workdir={out}",
            f"--teacher={workdir}", "--variant=short", "--arms=sft,onpolicy"],
           1200)
  assert r.returncode == 0, r.stderr[-3000:]
  with open(os.path.join(out, "distill.json")) as f:
    res = json.load(f)["results"]
  # Gains over the student base in paired standard errors (the same 256
  # held-out problems x 8 samples). Measured (seed 0, this teacher; 600
  # student pretraining steps, 20 on-policy steps): base 0.169; SFT on the
  # teacher's traces 0.595 (+0.426, 18.3 s.e.); on-policy distillation
  # 0.242 (+0.073, 5.4 s.e.). A student that learns nothing is within ~1
  # s.e.
  assert res["sft"]["gain_in_stderr"] > 3, res
  assert res["onpolicy"]["gain_in_stderr"] > 3, res
  assert res["teacher"]["pass@1"] > res["student_base"]["pass@1"], res
  assert os.path.getsize(os.path.join(out, "distill.png")) > 0

  # A reward model from the demo's base, then GRPO with it as the reward
  # (rm_demo.py, short: 2,048 problems x 8 samples, 100 RM updates, 8 RL
  # steps; the rule-checked accuracy is a metric, never rewarded).
  rm_out = str(tmp_path / "rm")
  r = _run(["experiments/rm_demo.py", f"--workdir={rm_out}",
            f"--base={workdir}", "--variant=short", "--arms=rm_format"], 1200)
  assert r.returncode == 0, r.stderr[-3000:]
  with open(os.path.join(rm_out, "rm_demo.json")) as f:
    res = json.load(f)
  g = res["arms"]["rm_format"]
  # Measured (seed 0, a base of held-out pass@1 0.395): RM held-out
  # pairwise accuracy 0.848 (4,435 pairs); RM reward -0.05 -> +0.21 (first
  # -> last 5 RL steps); held-out pass@1 0.395 -> 0.478, +0.083 = 3.8
  # paired s.e. (the same 128 problems x 8). An RM that learned nothing
  # scores pairs near 0.5; a hacked one raises its reward while the
  # held-out accuracy falls (30 RL steps here: -1.4 s.e.).
  assert res["rm_heldout_accuracy"] >= 0.8, res
  assert g["reward_rm"][1] - g["reward_rm"][0] > 0.1, g
  assert g["eval_gain_in_stderr"] > 2, g
  assert os.path.getsize(os.path.join(rm_out, "rm_demo.png")) > 0


def test_config_fields_reach_every_stage():
  c = r1_zero_demo.get_config()
  c.seed = 3
  c.task.max_operand = 7
  pre, rl, e = r1_zero_demo.phases(c, "/w")
  assert pre.seed == rl.seed == pre.data.seed == 3
  b = e.evals.arithmetic
  for k in (pre.data.corpus_kwargs, rl.data.task_kwargs, b.loader_kwargs):
    assert k.max_operand == 7
  # The held-out problems are the eval's, and the corpus leaves them out.
  assert (pre.data.corpus_kwargs.exclude_seed, rl.data.eval_seed,
          b.task_seed) == (1, 1, 1)
  assert pre.data.corpus_kwargs.exclude_count == b.task_count == 128
  assert b.max_new_tokens == rl.rl.max_new_tokens
  assert rl.init_from == "/w/base"
  pipeline.validate(c)
  # results.json's config: the RL stage's loss preset expanded.
  assert runinfo.resolved(c)["stages"]["rl"]["loss"]["eps_low"] == 0.2


def test_aha_variant_shares_its_problems_between_corpus_and_rl():
  c = r1_zero_demo.get_config("aha")
  c.task.num_ops = 4
  pre, rl, e = r1_zero_demo.phases(c, "/w")
  b = e.evals.arithmetic
  assert pre.data.corpus == "r1_zero_aha"
  for k in (pre.data.corpus_kwargs, rl.data.task_kwargs, b.loader_kwargs):
    assert (k.num_ops, k.min_ops, k.max_operand) == (4, 2, 5)
  # The held-out problems are left out of the corpus.
  assert pre.data.corpus_kwargs.exclude_seed == b.task_seed == 1
  assert pre.data.corpus_kwargs.exclude_count == b.task_count
  assert b.max_new_tokens == rl.rl.max_new_tokens == 128
  pipeline.validate(c)


def test_a_changed_field_reruns_its_stage_and_the_ones_after():
  """The pipeline's stage keys: the tokenizer trained into WORKDIR/base is
  part of the base; an RL field keeps the base; the seed changes both."""
  def keys(**fields):
    c = r1_zero_demo.get_config("short")
    c.update_from_flattened_dict(fields)
    base, rl = (s for s in pipeline.plan(c) if s.name in ("base", "rl"))
    kb = pipeline.key(base, "")
    return kb, pipeline.key(rl, kb)

  b0, r0 = keys()
  b1, r1 = keys(**{"stages.base.tokenizer_options.split_by_whitespace": True})
  assert b1 != b0 and r1 != r0
  b2, r2 = keys(**{"stages.rl.steps": 60})
  assert b2 == b0 and r2 != r0
  b3, r3 = keys(seed=1)
  assert b3 != b0 and r3 != r0
  assert keys(**{"task.num_ops": 3})[0] != b0
