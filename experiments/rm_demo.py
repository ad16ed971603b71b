r"""A reward model you can watch, on a CPU: learned preferences that pay.

  python experiments/rm_demo.py --workdir=/tmp/rm_demo
  # Reuse a finished R1-Zero demo's base model; the test's settings:
  python experiments/rm_demo.py --workdir=/tmp/rm_demo --base=/tmp/demo \
      --variant=short

1. BASE: the R1-Zero demo's pretrained model (configs/r1_zero_demo.py; its
   `base` stage runs into WORKDIR/base unless --base names a demo workdir).
2. PREFERENCES from the base's own samples (`generate`, k per prompt at
   the RL temperature 1.0, on problems of task seed 2, apart from the RL
   training stream (seed 0) and the held-out problems (seed 1)): per
   problem, a correct sample is preferred to a wrong one of about the same
   length (`pairs`); no reference answer is in the pairs.
3. REWARD MODEL (`reward_model` stage, Bradley-Terry) started from the
   base (a fresh score head), its held-out pairwise accuracy on problems
   it never saw.
4. GRPO from the base, two arms (`ARMS`), the rule-checked accuracy
   computed as a metric only, never rewarded:
   - rm_only: the RM as the only reward (weight 1, span 'full': the RM reads the
     whole response; `config.reward_models.rm`);
   - rm_format: the RM plus the format reward, R1's reward for general
     prompts (Reward_general = reward model + format [R1v2 3.1]).
   If the RM had learned a shortcut, the RM reward rises while the
   accuracy falls: that is reward hacking. Past ~20 GRPO steps both arms
   show it (40 steps, measured in the README); VARIANTS stop before.
5. EVAL (`eval` stage) of the base and each arm on the same held-out
   problems: pass@1 over k samples at T 0.6 / top-p 0.95, with each gain's
   paired standard error.

Writes WORKDIR/rm_demo.json, rm_demo.md and rm_demo.png (the RM reward and
the rule-checked accuracy against RL step, per arm).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
from configs import generate as generate_config
from configs import r1_zero_demo
from configs import reward_model as rm_config
from r1jax import checkpoint as ckpt_lib
from r1jax import configlib
from r1jax import metrics as metrics_lib
from r1jax.trainers import evaluate, generate, grpo, reward_model
# The same eval; the same demo stages.
from experiments.distill_vs_rl import demo_stage, eval_cfg, per_problem
# pylint: enable=g-import-not-at-top,wrong-import-position

# Per variant (ours): problems the base samples (k each) for preferences;
# wrong samples per problem that get a pair (each against a correct one);
# RM optimizer updates (32 pairs each); GRPO steps (each 16 prompts x 8
# rollouts, one optimizer update); held-out problems. The GRPO steps are
# few on purpose: the rule-checked accuracy rises with the RM reward for
# about 20 steps (cpu; about 8 on the short variant's 2-operation base) and
# then falls while the RM reward keeps rising (over-optimisation of a
# learned reward; measured, README). `short` is the test's
# (tests/trainers/demo_test.py, on the demo test's base).
VARIANTS = {
    "cpu": dict(pref_prompts=4096, k=8, pairs_per_problem=2, rm_steps=200,
                rl_steps=20, heldout=128),
    "short": dict(pref_prompts=2048, k=8, pairs_per_problem=3,
                  rm_steps=100, rl_steps=8, heldout=128),
}
EVAL_K = 8
ARMS = {"rm_only": "the reward model alone",
        "rm_format": "reward model + format (R1's general reward)"}


def demo_config(variant: str, seed: int):
  c = r1_zero_demo.get_config(variant)
  c.seed = seed
  return c


def generate_cfg(d, base: str, v: dict, seed: int):
  c = generate_config.get_config("arithmetic")
  c.seed = seed
  c.init_from = base
  p = c.prompts
  p.loader_kwargs.update(dict(d.task))
  p.task_seed = 2  # not the RL stream (0) nor the held-out problems (1)
  p.task_count = v["pref_prompts"]
  p.n = v["k"]
  p.temperature, p.top_p = d.stages.rl.rl.temperature, 1.0
  p.max_new_tokens = d.stages.rl.rl.max_new_tokens
  c.filters = ()  # every sample; the pairs are built below
  c.max_per_prompt = v["k"]
  return c


def pairs(generations: str, per_problem: int) -> tuple[list[dict], dict]:
  """(pairs, counts) from generations.jsonl: per problem, up to
  `per_problem` wrong samples, each against the correct sample closest to
  it in length.

  Length-matched on purpose: pairing the shortest correct sample with a
  wrong one (the "concise" preference) taught the RM that shorter is
  better, and GRPO then shortened the chains of thought until the
  accuracy fell (measured; README)."""
  by = {}
  for line in open(generations, encoding="utf-8"):
    r = json.loads(line)
    by.setdefault(r["problem"], []).append(r)
  out = []
  counts = {"problems": len(by), "with_correct": 0, "with_both": 0}
  for rows in by.values():
    right = [r for r in rows if r["correct"]]
    wrong = [r for r in rows if not r["correct"] and not r["truncated"]]
    counts["with_correct"] += bool(right)
    if not right or not wrong:
      continue
    counts["with_both"] += 1
    for w in wrong[:per_problem]:
      best = min(right, key=lambda r: (abs(r["length"] - w["length"]),
                                       r["sample"]))
      out.append({"prompt": best["prompt"], "chosen": best["completion"],
                  "rejected": w["completion"],
                  "length_gap": best["length"] - w["length"]})
  return out, counts


def rm_cfg(d, base: str, train_file: str, v: dict, seed: int):
  c = rm_config.get_config("pairwise")
  c.seed = c.data.seed = seed
  c.init_from = base
  c.data.train_file = train_file
  # The RL step's prompt: the R1-Zero template, as the policy sees it.
  c.data.template = d.stages.rl.template
  c.data.eval_fraction = 0.1
  c.data.batch_size = 32
  c.data.seq_len = d.stages.rl.max_prompt_len + d.stages.rl.rl.max_new_tokens
  c.optim.lr = 3e-4
  c.optim.warmup_steps = 20
  c.epochs = 0.0
  c.steps = v["rm_steps"]
  c.checkpoint.every = -1
  c.checkpoint.keep = 1
  return c


def rl_cfg(d, base: str, rm_dir: str, v: dict, arm: str):
  _, g, _ = r1_zero_demo.phases(d, "")
  g.init_from = base
  g.steps = v["rl_steps"]
  g.eval.num_prompts = 0  # every model is evaluated alike, below
  for name in g.rewards:
    g.rewards[name] = 0.0  # accuracy (and format): reported, not rewarded
  if arm == "rm_format":
    g.rewards.format = 1.0
  configlib.add_reward_model(g, "rm", weight=1.0, span="full")
  g.reward_models.rm.init_from = rm_dir
  return g


def _finished(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, "final_metrics.json"))


def _curve(rl_dir: str, name: str) -> tuple[list[int], list[float]]:
  series = metrics_lib.read_metrics(os.path.join(rl_dir, "metrics.jsonl"))
  steps, values = series[name]
  keep = ~np.isnan(values)
  return ([int(s) for s in steps[keep]], [float(x) for x in values[keep]])


def _ends(values, n: int = 5) -> tuple[float, float]:
  """Means of the first and the last n steps (one step is noisy)."""
  return float(np.mean(values[:n])), float(np.mean(values[-n:]))


def run(workdir: str, base_demo: str, variant: str, seed: int,
        arms=tuple(ARMS)) -> dict:
  v = VARIANTS[variant]
  d = demo_config(variant, seed)
  times = {}
  t = time.time()
  base = demo_stage(d, base_demo, workdir, "base", "rm_demo")
  times["base"] = time.time() - t

  t = time.time()
  gen_dir = os.path.join(workdir, "samples")
  if not os.path.exists(os.path.join(gen_dir, "generations.jsonl")):
    generate.run(generate_cfg(d, base, v, seed), gen_dir)
  prefs, counts = pairs(os.path.join(gen_dir, "generations.jsonl"),
                       v["pairs_per_problem"])
  pref_file = os.path.join(workdir, "preferences.jsonl")
  with open(pref_file, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(p) + "\n" for p in prefs)
  times["preferences"] = time.time() - t

  t = time.time()
  rm_dir = os.path.join(workdir, "rm")
  if not _finished(rm_dir):
    reward_model.run(rm_cfg(d, base, pref_file, v, seed), rm_dir)
    ckpt_lib.exit_if_interrupted("rm_demo: the reward model")
  rm_final = json.load(open(os.path.join(rm_dir, "final_metrics.json")))
  times["reward_model"] = time.time() - t

  evals, curves, gains = {}, {}, {}
  models = {"base": base}
  for arm in arms:
    t = time.time()
    rl_dir = os.path.join(workdir, arm)
    if not _finished(rl_dir):
      grpo.run(rl_cfg(d, base, rm_dir, v, arm), rl_dir)
      ckpt_lib.exit_if_interrupted(f"rm_demo: arm {arm}")
    times[arm] = time.time() - t
    models[arm] = rl_dir
    curves[arm] = {k: _curve(rl_dir, f"reward/{k}")
                   for k in ("rm", "accuracy", "format")}
    curves[arm]["length"] = _curve(rl_dir, "length/mean")

  t = time.time()
  for name, model in models.items():
    m = evaluate.run(eval_cfg(d, model, v),
                     os.path.join(workdir, "eval", name))["arithmetic"]
    evals[name] = {"pass@1": m["pass@1"], "stderr": m["pass@1_stderr"],
                   "format": m.get("format"),
                   "length": m.get("length_mean")}
  base_pp = per_problem(os.path.join(workdir, "eval", "base"))
  for arm in arms:
    diff = per_problem(os.path.join(workdir, "eval", arm)) - base_pp
    g, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
    c = curves[arm]
    gains[arm] = {"eval_gain": g, "eval_gain_stderr": se,
                  "eval_gain_in_stderr": g / se if se else float("inf"),
                  "reward_rm": _ends(c["rm"][1]),
                  "accuracy": _ends(c["accuracy"][1]),
                  "format": _ends(c["format"][1]),
                  "length": _ends(c["length"][1])}
  times["eval"] = time.time() - t

  out = {
      "variant": variant, "seed": seed, "settings": v,
      "preference_pairs": len(prefs), "pair_counts": counts,
      "rm_heldout_accuracy": rm_final.get("eval/pairwise_accuracy"),
      "rm_heldout_margin": rm_final.get("eval/margin"),
      "rl_steps": v["rl_steps"], "arms": gains, "eval": evals,
      "heldout_problems": v["heldout"], "k": EVAL_K, "wall_time_s": times,
  }
  with open(os.path.join(workdir, "rm_demo.json"), "w") as f:
    json.dump(out, f, indent=2)
  table = markdown(out)
  with open(os.path.join(workdir, "rm_demo.md"), "w") as f:
    f.write(table)
  plot(curves, out, os.path.join(workdir, "rm_demo.png"))
  print(table)
  return out


def markdown(out: dict) -> str:
  c = out["pair_counts"]
  b = out["eval"]["base"]
  lines = [
      f"Preference pairs: {out['preference_pairs']} (correct vs wrong, "
      f"length-matched, from {c['with_both']} of {c['problems']} "
      f"problems); RM held-out pairwise "
      f"accuracy {out['rm_heldout_accuracy']:.3f}. Held-out pass@1 (k="
      f"{out['k']}, T 0.6) of the base: {b['pass@1']:.3f} +- "
      f"{b['stderr']:.3f}.", "",
      "| arm | RM reward, first -> last 5 steps | rule-checked accuracy "
      "(not rewarded) | format | held-out pass@1 | gain / paired s.e. |",
      "|---|---|---|---|---|---|"]
  for arm, g in out["arms"].items():
    e = out["eval"][arm]
    lines.append(
        f"| {arm} | {g['reward_rm'][0]:+.2f} -> {g['reward_rm'][1]:+.2f} | "
        f"{g['accuracy'][0]:.3f} -> {g['accuracy'][1]:.3f} | "
        f"{g['format'][0]:.2f} -> {g['format'][1]:.2f} | "
        f"{e['pass@1']:.3f} +- {e['stderr']:.3f} | "
        f"{g['eval_gain']:+.3f} / {g['eval_gain_stderr']:.3f} = "
        f"{g['eval_gain_in_stderr']:.1f} |")
  return "\n".join(lines) + "\n"


def plot(curves: dict, out: dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(1, 3, figsize=(14, 3.5))
  for arm, c in curves.items():
    ax[0].plot(*c["rm"], label=arm)
    ax[1].plot(*c["accuracy"], label=arm)
    ax[2].plot(*c["format"], label=arm)
  for a, title in zip(ax, (
      f"RM reward (RM held-out pair acc {out['rm_heldout_accuracy']:.2f})",
      "rule-checked accuracy (not rewarded)", "format")):
    a.set_xlabel("RL step")
    a.set_title(title)
    a.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main():
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawTextHelpFormatter)
  ap.add_argument("--workdir", required=True,
                  help="where every stage writes (reused on a rerun)")
  ap.add_argument("--base", default="",
                  help="a finished r1_zero_demo workdir whose base model "
                  "to use (default: pretrain one into WORKDIR/base)")
  ap.add_argument("--variant", default="cpu", choices=sorted(VARIANTS),
                  help="sizes (VARIANTS) (default: %(default)s)")
  ap.add_argument("--seed", type=int, default=0,
                  help="seed of every stage (default: %(default)s)")
  ap.add_argument("--arms", default=",".join(ARMS),
                  help="comma list of: " + "; ".join(
                      f"{k}: {v}" for k, v in ARMS.items())
                  + " (default: %(default)s)")
  a = ap.parse_args()
  arms = [x for x in a.arms.split(",") if x]
  for x in arms:
    if x not in ARMS:
      ap.error(f"--arms: unknown arm {x!r}; known: {sorted(ARMS)}")
  os.makedirs(a.workdir, exist_ok=True)
  run(a.workdir, a.base, a.variant, a.seed, arms)


if __name__ == "__main__":
  main()
