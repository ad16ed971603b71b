r"""What R1-Zero GRPO changed in the CPU demo: held-out answers by style.

  python experiments/demo_styles.py --workdir=/tmp/r1jax_demo [--seed=0]

Loads the demo's base model (WORKDIR/base) and its GRPO result (WORKDIR/rl),
samples the demo's held-out prompts exactly as its evaluation does (same
prompts, key, k, temperature 0.6 and top-p 0.95, so the pass@1 printed
equals results.json), and sorts every answer into the corpus's styles
(r1jax/data/corpora.py, `r1_zero_base`):

  untagged  no <answer> tag ("... the answer is N.")
  checked   tagged, and the reasoning says "wait" (a self-check)
  direct    tagged, and <think> holds no step ("=") but restates the question
  worked    tagged worked steps

For each model it prints the share of answers and their accuracy per style,
and writes WORKDIR/styles.json. Run the demo first (the README's main
command) with the same --seed.
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
from r1jax.trainers import common, demo, grpo, rl_data

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


def main():
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", required=True,
                  help="the demo's workdir (holds base/ and rl/); "
                  "styles.json is written there")
  ap.add_argument("--seed", type=int, default=0,
                  help="the demo's config.seed; must match the demo run "
                  "(default: %(default)s)")
  ap.add_argument("--variant", default="cpu", choices=("cpu", "short"),
                  help="configs/r1_zero_demo.py variant the demo ran with "
                  "(default: %(default)s)")
  a = ap.parse_args()
  c = r1_zero_demo.get_config(a.variant)
  c.seed = a.seed
  _, rl = demo.sub_configs(c)
  base, rl_dir = (os.path.join(a.workdir, "base"),
                  os.path.join(a.workdir, "rl"))
  for d in (base, rl_dir):
    if not os.path.isdir(ckpt_lib.checkpoints_dir(d)):
      raise SystemExit(f"--workdir: no checkpoints in {d}; run the demo "
                       "first (python -m r1jax.main "
                       "--config=configs/r1_zero_demo.py ...)")
  rl.init_from = base
  b = grpo.build(rl, rl_dir)
  ckpt = ckpt_lib.Checkpointer(ckpt_lib.checkpoints_dir(rl_dir),
                               async_save=False)
  final = ckpt.restore_params(common.abstract(b["params"]),
                              path=("train", "params"))
  ckpt.close()
  stops = b["spec"].stop_ids
  result = {}
  with jax.set_mesh(b["mesh"]), nn.logical_axis_rules(b["rules"]):
    for name, params in (("base", b["params"]), ("final", final)):
      samples = []
      rl_data.evaluate(params, b["cfg"], b["tok"], b["prompts"], rl,
                       b["mesh"], stops, rl.seed + 1, b["prompter"],
                       samples, rules=b["rules"])
      result[name] = by_style(samples)
  for name, r in result.items():
    cells = ", ".join(
        f"{s} {r[s]['share']:.0%} (acc {r[s]['accuracy']:.2f})"
        if r[s]["accuracy"] is not None else f"{s} 0%" for s in STYLES)
    print(f"{name}: pass@1 {r['pass@1']:.3f}; {cells}")
  with open(os.path.join(a.workdir, "styles.json"), "w") as f:
    json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
