r"""Distillation vs RL for a small student, on a CPU (R1 Table 6 in miniature).

  python experiments/distill_vs_rl.py --workdir=/tmp/distill
  # Reuse a finished R1-Zero demo as the teacher; the test's settings:
  python experiments/distill_vs_rl.py --workdir=/tmp/distill \
      --teacher=/tmp/demo --variant=short --arms=sft,onpolicy

The teacher is the R1-Zero demo's RL model (configs/r1_zero_demo.py; run
into WORKDIR/teacher unless --teacher names a finished demo workdir). The
student is a smaller model (--student, `STUDENTS` below) pretrained on the
same corpus with the teacher's tokenizer into WORKDIR/student_base. From
that one base, three arms:
- rl: R1-Zero GRPO on the student (the demo's GRPO settings, rollouts at
  T 0.6: `VARIANTS`);
- sft: the teacher rejection-samples the training prompts (`generate`: k
  samples per prompt, correct answers only, one kept per prompt), the
  student is fine-tuned on what was kept (`sft`);
- onpolicy: on-policy distillation, the demo's GRPO step with no reward:
  the student samples, the teacher scores the student's tokens, and the
  per-token reverse KL is the advantage (config.distill).
Every model (teacher, student base, each arm) is evaluated by the `eval`
stage on the same held-out problems (task seed 1, the demo's; the first
256, all left out of the student's corpus): pass@1 over k samples at
T 0.6 / top-p 0.95, with its standard error over problems, and
each arm's gain over the student base with the paired standard error (the
same problems; per-problem differences). Writes WORKDIR/distill.json,
WORKDIR/distill.md and WORKDIR/distill.png.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from configs import eval as eval_config
from configs import generate as generate_config
from configs import r1_zero_demo
from r1jax import checkpoint as ckpt_lib
from r1jax.trainers import evaluate, generate, grpo, pipeline, sft
# pylint: enable=g-import-not-at-top,wrong-import-position

ARMS = ("rl", "sft", "onpolicy")
ARM_HELP = {
    "rl": "R1-Zero GRPO on the student (accuracy + format rewards)",
    "sft": "SFT on the teacher's rejection-sampled traces (generate + sft)",
    "onpolicy": "on-policy distillation: per-token reverse KL to the teacher "
                "as the GRPO advantage, no reward",
}
# The student, the demo's model (4 layers, width 128, ~0.9M parameters)
# made smaller (ModelConfig overrides); ours. `half`: half the depth
# (~0.5M); `narrow`: half the depth and half the width (~0.2M).
STUDENTS = {
    "half": dict(num_layers=2, embed_dim=128, num_heads=4, num_kv_heads=2,
                 head_dim=32, mlp_dim=384, max_seq_len=512),
    "narrow": dict(num_layers=2, embed_dim=64, num_heads=2, num_kv_heads=1,
                   head_dim=32, mlp_dim=192, max_seq_len=512),
}
# Per variant: student pretraining steps; GRPO steps, learning rate (the
# demo's) and rollout temperature of the rl and onpolicy arms; training
# prompts the teacher samples (k each); SFT steps; held-out problems. The
# rollout temperature is ours, not R1's 1.0: at T = 1 the student's samples
# are almost never correct (2% vs 16% at 0.6), and both arms learned less
# (rl -0.003, onpolicy +0.052 over 40 steps, seed 0).
VARIANTS = {
    "cpu": dict(pretrain_steps=1000, rl_steps=40, rl_lr=1e-4,
                rl_temperature=0.6, gen_prompts=640, k=4, sft_steps=80,
                heldout=256),
    "short": dict(pretrain_steps=600, rl_steps=20, rl_lr=1e-4,
                  rl_temperature=0.6, gen_prompts=640, k=4, sft_steps=80,
                  heldout=256),
}
EVAL_K = 8


def demo_config(variant: str, seed: int):
  c = r1_zero_demo.get_config(variant)
  c.seed = seed
  return c


def demo_stage(d, given: str, default: str, stage: str, who: str) -> str:
  """The directory of a finished stage of the demo `d`: `given`'s (a
  finished demo workdir), else the demo's pipeline up to `stage` runs in
  `default` (finished stages skipped, an interrupted one resumed)."""
  if given:
    path = os.path.join(given, stage)
    if not pipeline.finished(path):
      raise SystemExit(
          f"{who}: {path} is not a finished stage of an R1-Zero demo run "
          f"(python -m r1jax.main --config=configs/r1_zero_demo.py "
          f"--workdir={given})")
    return path
  out = pipeline.run(pipeline.prefix(d, stage, evaluations=False), default)
  if "interrupted" in out:
    raise SystemExit(f"{who}: the demo was interrupted in "
                     f"{out['interrupted']}; rerun the same command to go on")
  return os.path.join(default, stage)


def student_base_config(d, teacher_dir: str, v: dict, student: str):
  """The demo's pretraining, a smaller model, the teacher's tokenizer."""
  pre, _, _ = r1_zero_demo.phases(d, teacher_dir)
  pre.tokenizer = os.path.join(teacher_dir, "base", "tokenizer.model")
  pre.model.overrides.update(STUDENTS[student])
  pre.steps = v["pretrain_steps"]
  # Every held-out problem is left out of the student's corpus (the demo
  # leaves out its own 128).
  pre.data.corpus_kwargs.exclude_count = v["heldout"]
  return pre


def rl_config(d, base: str, v: dict, teacher: str = ""):
  _, g, _ = r1_zero_demo.phases(d, "")
  g.init_from = base
  g.steps = v["rl_steps"]
  g.optim.lr = v["rl_lr"]
  g.rl.temperature = v["rl_temperature"]
  g.eval.num_prompts = 0  # every model is evaluated alike, below
  if teacher:
    g.distill.teacher = teacher
    g.distill.coef = 1.0
    for name in g.rewards:
      g.rewards[name] = 0.0
  return g


def generate_cfg(d, teacher: str, v: dict, seed: int):
  c = generate_config.get_config("arithmetic")
  c.seed = seed
  c.init_from = teacher
  c.prompts.loader_kwargs.update(dict(d.task))
  c.prompts.task_seed = 0  # the RL training stream (held-out: seed 1)
  c.prompts.task_count = v["gen_prompts"]
  c.prompts.n = v["k"]
  c.filters = ("correct", "length", "trim_after_answer", "dedupe")
  c.max_per_prompt = 1
  return c


def sft_cfg(d, base: str, train_file: str, v: dict):
  pre, _, _ = r1_zero_demo.phases(d, "")
  pre.stage = "sft"
  pre.init_from = base
  pre.data.corpus = ""
  pre.data.corpus_kwargs = type(pre.data.corpus_kwargs)()
  pre.data.train_file = train_file
  pre.steps = v["sft_steps"]
  pre.optim.lr = 1e-3
  pre.optim.warmup_steps = 5
  return pre


def eval_cfg(d, model: str, v: dict):
  c = eval_config.get_config("arithmetic")
  c.init_from = model
  c.model.dtype = c.model.param_dtype = "float32"
  e = c.evals.arithmetic
  e.loader_kwargs.update(dict(d.task))
  e.task_count, e.n, e.task_seed = v["heldout"], EVAL_K, 1
  e.max_new_tokens = d.stages.rl.rl.max_new_tokens
  c.batch_rows = 128
  return c


def per_problem(eval_dir: str) -> np.ndarray:
  """Mean correctness per problem, in problem order."""
  rows = [json.loads(line) for line in open(
      os.path.join(eval_dir, "samples.jsonl"), encoding="utf-8")]
  by = {}
  for r in rows:
    by.setdefault(r["problem"], []).append(float(r["correct"]))
  return np.array([np.mean(by[p]) for p in sorted(by)])


def gain(arm: np.ndarray, base: np.ndarray) -> tuple[float, float]:
  """(mean gain, its paired standard error over problems)."""
  d = arm - base
  return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def _finished(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, "final_metrics.json"))


def run(workdir: str, teacher_demo: str, variant: str, arms, seed: int,
        student: str = "half"):
  v = VARIANTS[variant]
  d = demo_config(variant, seed)
  times = {}
  t = time.time()
  teacher = demo_stage(d, teacher_demo, os.path.join(workdir, "teacher"),
                       "rl", "distill_vs_rl")
  teacher_demo = os.path.dirname(teacher)
  times["teacher"] = time.time() - t
  base = os.path.join(workdir, "student_base")
  t = time.time()
  if not _finished(base):
    sft.run(student_base_config(d, teacher_demo, v, student), base)
    ckpt_lib.exit_if_interrupted("distill_vs_rl: the student base")
  times["student_base"] = time.time() - t
  models = {"teacher": teacher, "student_base": base}
  for arm in arms:
    t = time.time()
    out = os.path.join(workdir, arm)
    if arm == "rl" and not _finished(out):
      grpo.run(rl_config(d, base, v), out)
    elif arm == "onpolicy" and not _finished(out):
      grpo.run(rl_config(d, base, v, teacher=teacher), out)
    elif arm == "sft":
      data = os.path.join(workdir, "teacher_traces")
      if not os.path.exists(os.path.join(data, "sft.jsonl")):
        generate.run(generate_cfg(d, teacher, v, seed), data)
      if not _finished(out):
        sft.run(sft_cfg(d, base, os.path.join(data, "sft.jsonl"), v), out)
    ckpt_lib.exit_if_interrupted(f"distill_vs_rl: arm {arm}")
    times[arm] = time.time() - t
    models[arm] = out
  results = {}
  for name, model in models.items():
    m = evaluate.run(eval_cfg(d, model, v),
                     os.path.join(workdir, "eval", name))["arithmetic"]
    results[name] = {"pass@1": m["pass@1"], "stderr": m["pass@1_stderr"],
                     "format": m.get("format")}
  base_pp = per_problem(os.path.join(workdir, "eval", "student_base"))
  for name in list(arms) + ["teacher"]:
    g, se = gain(per_problem(os.path.join(workdir, "eval", name)), base_pp)
    results[name].update(gain=g, gain_stderr=se,
                         gain_in_stderr=g / se if se else float("inf"))
  if "sft" in arms:
    rep = json.load(open(os.path.join(workdir, "teacher_traces",
                                      "filter_report.json")))
    results["sft"]["traces_kept"] = rep["kept"]
    results["sft"]["traces_sampled"] = rep["total"]
  out = {"variant": variant, "seed": seed, "settings": v,
         "student": student, "student_model": STUDENTS[student], "heldout_problems": v["heldout"],
         "k": EVAL_K, "results": results, "wall_time_s": times}
  with open(os.path.join(workdir, "distill.json"), "w") as f:
    json.dump(out, f, indent=2)
  table = markdown(out)
  with open(os.path.join(workdir, "distill.md"), "w") as f:
    f.write(table)
  plot(out, os.path.join(workdir, "distill.png"))
  print(table)
  return out


def markdown(out: dict) -> str:
  lines = ["| model | held-out pass@1 | gain over student base | gain / "
           "paired s.e. | wall (s) |", "|---|---:|---:|---:|---:|"]
  for name, r in out["results"].items():
    g = ("" if "gain" not in r else
         f"{r['gain']:+.3f} +- {r['gain_stderr']:.3f}")
    z = "" if "gain" not in r else f"{r['gain_in_stderr']:.1f}"
    wall = out["wall_time_s"].get(name)
    lines.append(f"| {name} | {r['pass@1']:.3f} +- {r['stderr']:.3f} | {g} "
                 f"| {z} | {'' if wall is None else round(wall)} |")
  return "\n".join(lines) + "\n"


def plot(out: dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  names = list(out["results"])
  y = [out["results"][n]["pass@1"] for n in names]
  err = [out["results"][n]["stderr"] for n in names]
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.bar(names, y, yerr=err, capsize=4, color="tab:blue")
  ax.set_ylabel(f"held-out pass@1 (k={out['k']}, T=0.6)")
  ax.set_title(f"distillation vs RL: {out['student']} student, "
               f"{out['variant']}, seed {out['seed']}")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main():
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="arms:\n" + "\n".join(f"  {k:9s} {h}"
                                   for k, h in ARM_HELP.items()))
  ap.add_argument("--workdir", required=True, help="where everything goes")
  ap.add_argument("--teacher", default="",
                  help="a finished r1_zero_demo workdir to use as the teacher "
                       "(default: run the demo into WORKDIR/teacher)")
  ap.add_argument("--variant", default="cpu", choices=tuple(VARIANTS),
                  help="sizes (default: cpu); short: the test's")
  ap.add_argument("--arms", default=",".join(ARMS),
                  help=f"comma-separated arms (default: {','.join(ARMS)})")
  ap.add_argument("--seed", type=int, default=0, help="(default: 0)")
  ap.add_argument("--student", default="half", choices=tuple(STUDENTS),
                  help="the student's size (default: half): half = the "
                       "demo's model at half depth, narrow = also half width")
  ap.add_argument("--rl_steps", type=int, default=None,
                  help="GRPO steps of the rl and onpolicy arms (default: the "
                       "variant's, 40 for cpu)")
  ap.add_argument("--rl_lr", type=float, default=None,
                  help="learning rate of the rl and onpolicy arms (default: "
                       "the variant's, 1e-4: the demo's GRPO rate)")
  a = ap.parse_args()
  arms = [x for x in a.arms.split(",") if x]
  bad = [x for x in arms if x not in ARMS]
  if bad:
    ap.error(f"--arms: unknown {bad}; known: {list(ARMS)}")
  logging.set_verbosity(logging.INFO)  # progress of every stage
  if a.rl_steps is not None:
    VARIANTS[a.variant]["rl_steps"] = a.rl_steps
  if a.rl_lr is not None:
    VARIANTS[a.variant]["rl_lr"] = a.rl_lr
  run(a.workdir, a.teacher, a.variant, arms, a.seed, a.student)


if __name__ == "__main__":
  main()
