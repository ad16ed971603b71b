r"""What R1-Zero GRPO changed in the CPU demo: held-out answers by style.

  python experiments/demo_styles.py --workdir=/tmp/r1jax_demo [--seed=0]

Reads the held-out answers the demo's evaluations wrote for its base model
(WORKDIR/eval/base) and its GRPO result (WORKDIR/eval/rl), the samples
behind results.json (so the pass@1 printed equals it), and sorts every
answer into the corpus's styles (r1jax/data/corpora.py, `r1_zero_base`):

  untagged  no <answer> tag ("... the answer is N.")
  checked   tagged, and the reasoning says "wait" (a self-check)
  direct    tagged, and <think> holds no step ("=") but restates the question
  worked    tagged worked steps

For each model it prints the share of answers and their accuracy per style,
and per number of operations how often worked answers check and how
accurate checked and unchecked ones are; writes WORKDIR/styles.json. With
--temperature or --k it samples both checkpoints again instead
(styles_t<T>.json). Run the demo first (the README's main command) with the
same --seed and --variant.
"""

import argparse
import json
import os
import sys

import flax.linen as nn
import jax
import numpy as np

from r1jax import checkpoint as ckpt_lib
from r1jax.rewards import extract
from r1jax.evaluation import evaluators
from r1jax.trainers import common, grpo, rl_data

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from configs import r1_zero_demo  # pylint: disable=g-import-not-at-top,g-bad-import-order

STYLES = ("worked", "checked", "direct", "untagged")


def style(text: str) -> str:
  if "<answer>" not in text:
    return "untagged"
  think = extract.think_section(text, False) or ""
  if "wait" in think.lower():
    return "checked"
  return "worked" if "=" in think else "direct"


def by_style(samples) -> dict:
  rows = [(style(t), ok) for s in samples
          for t, ok in zip(s["texts"], s["correct"])]
  out = {}
  for name in STYLES:
    hits = [ok for st, ok in rows if st == name]
    out[name] = {"share": len(hits) / len(rows),
                 "accuracy": float(np.mean(hits)) if hits else None}
  out["pass@1"] = float(np.mean([ok for _, ok in rows]))
  return out


def _mean(xs):
  return float(np.mean(xs)) if xs else None


def by_difficulty(samples) -> dict:
  """Per number of operations (the example's `ops`; the aha corpus mixes
  2-4): how often tagged answers check ("wait"), and the accuracy of
  checked vs unchecked worked answers."""
  out = {}
  for ops in sorted({s["example"].get("ops") for s in samples} - {None}):
    rows = [(style(t), ok) for s in samples if s["example"].get("ops") == ops
            for t, ok in zip(s["texts"], s["correct"])]
    checked = [ok for st, ok in rows if st == "checked"]
    worked = [ok for st, ok in rows if st == "worked"]
    out[str(ops)] = {
        "answers": len(rows), "pass@1": _mean([ok for _, ok in rows]),
        "check_rate": len(checked) / max(1, len(checked) + len(worked)),
        "checked_accuracy": _mean(checked), "checked": len(checked),
        "unchecked_accuracy": _mean(worked), "unchecked": len(worked)}
  return out


def from_eval(e, eval_dir: str) -> list[dict]:
  """{"example", "texts", "correct"} per problem of an `eval` stage's
  samples.jsonl (config `e`, one evaluator), in problem order."""
  (name, block), = e.evals.items()
  examples = evaluators.load_examples(block)
  by = {}
  with open(os.path.join(eval_dir, "samples.jsonl"), encoding="utf-8") as f:
    for line in f:
      r = json.loads(line)
      if r["eval"] == name:
        s = by.setdefault(r["problem"], {"example": examples[r["problem"]],
                                         "texts": [], "correct": []})
        s["texts"].append(r["completion"])
        s["correct"].append(bool(r["correct"]))
  return [by[p] for p in sorted(by)]


def resample(rl, workdir: str, k: int, temperature: float) -> dict:
  """{model: samples}: the held-out problems sampled again from both
  checkpoints through the RL stage's held-out evaluation (rl_data)."""
  rl_dir = os.path.join(workdir, "rl")
  rl.eval.k = k
  rl.eval.temperature = temperature
  b = grpo.build(rl, rl_dir)
  models = [("base", b["params"])]
  if os.path.isdir(ckpt_lib.checkpoints_dir(rl_dir)):
    ckpt = ckpt_lib.Checkpointer(ckpt_lib.checkpoints_dir(rl_dir),
                                 async_save=False)
    models.append(("final", ckpt.restore_params(
        common.abstract(b["params"]), path=("train", "params"))))
    ckpt.close()
  else:
    print(f"no GRPO checkpoint in {rl_dir} yet: the base model only")
  out = {}
  with jax.set_mesh(b["mesh"]), nn.logical_axis_rules(b["rules"]):
    for name, params in models:
      out[name] = []
      rl_data.evaluate(params, b["cfg"], b["tok"], b["prompts"], rl,
                       b["mesh"], b["spec"].stop_ids, rl.seed + 1,
                       b["prompter"], out[name], rules=b["rules"])
  return out


def main():
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", required=True,
                  help="the demo's workdir (holds base/, rl/ and eval/); "
                  "styles.json is written there")
  ap.add_argument("--seed", type=int, default=0,
                  help="the demo's config.seed; must match the demo run "
                  "(default: %(default)s)")
  ap.add_argument("--variant", default="cpu", choices=("cpu", "short", "aha"),
                  help="configs/r1_zero_demo.py variant the demo ran with "
                  "(default: %(default)s)")
  ap.add_argument("--temperature", type=float, default=None,
                  help="sample again at this temperature instead of reading "
                  "the evaluation's samples (T 0.6), e.g. 1.0, the "
                  "rollouts': a base model's rare styles are rarer still at "
                  "0.6")
  ap.add_argument("--k", type=int, default=None,
                  help="sample again, this many samples per held-out "
                  "problem (default: the evaluation's)")
  a = ap.parse_args()
  c = r1_zero_demo.get_config(a.variant)
  c.seed = a.seed
  _, rl, e = r1_zero_demo.phases(c, a.workdir)
  block = e.evals[r1_zero_demo.BENCH]
  if a.temperature is None and a.k is None:
    dirs = {"base": os.path.join(a.workdir, "eval", "base"),
            "final": os.path.join(a.workdir, "eval", "rl")}
    if not os.path.isfile(os.path.join(dirs["base"], "samples.jsonl")):
      raise SystemExit(f"--workdir: no {dirs['base']}/samples.jsonl; run "
                       "the demo first (python -m r1jax.main "
                       "--config=configs/r1_zero_demo.py ...)")
    models = {n: from_eval(e, d) for n, d in dirs.items()
              if os.path.isfile(os.path.join(d, "samples.jsonl"))}
  else:
    if not os.path.isdir(ckpt_lib.checkpoints_dir(rl.init_from)):
      raise SystemExit(f"--workdir: no checkpoints in {rl.init_from}; run "
                       "the demo first (python -m r1jax.main "
                       "--config=configs/r1_zero_demo.py ...)")
    rl.eval.num_prompts = block.task_count
    models = resample(rl, a.workdir, a.k or block.n,
                      block.temperature if a.temperature is None
                      else a.temperature)
  result = {}
  for name, samples in models.items():
    result[name] = by_style(samples)
    result[name]["by_ops"] = by_difficulty(samples)
  for name, r in result.items():
    cells = ", ".join(
        f"{s} {r[s]['share']:.0%} (acc {r[s]['accuracy']:.2f})"
        if r[s]["accuracy"] is not None else f"{s} 0%" for s in STYLES)
    print(f"{name}: pass@1 {r['pass@1']:.3f}; {cells}")
    for ops, d in r["by_ops"].items():
      acc = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
      print(f"  {ops} ops: pass@1 {acc(d['pass@1'])}, checks "
            f"{d['check_rate']:.0%} of worked answers, accuracy checked "
            f"{acc(d['checked_accuracy'])} (n={d['checked']}) vs unchecked "
            f"{acc(d['unchecked_accuracy'])} (n={d['unchecked']})")
  name = "styles.json" if a.temperature is None else \
      f"styles_t{a.temperature:g}.json"
  with open(os.path.join(a.workdir, name), "w") as f:
    json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
