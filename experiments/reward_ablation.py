r"""Reward and loss ablations of the CPU R1-Zero recipe, one command.

  python experiments/reward_ablation.py --workdir=/tmp/ablation
  python experiments/reward_ablation.py --workdir=/tmp/ablation \
      --arms=grpo,format0 --rl_steps=60 --seed=1

Every arm is `configs/r1_zero_demo.py` with config overrides, run from the
SAME pretrained base model (pretrained once, in the first arm's workdir):
- grpo: the recipe as is (R1's loss, accuracy + format rewards);
- format0: format reward weight 0 (accuracy only);
- dr_grpo, dapo: the other loss presets (r1jax.losses.grpo.PRESETS);
- lang_off / lang_on: the multilingual task (prompts in German, "think in
  German"), host rewards, language-consistency reward weight 0 vs 0.5.
Writes WORKDIR/ablation.json, WORKDIR/ablation.md (the table) and
WORKDIR/ablation.png (held-out pass@1 against the GRPO step, per arm).
"""

import argparse
import json
import os
import sys
import textwrap

from absl import logging

# configs/ is a directory of the repository, not of the installed package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from configs import r1_zero_demo  # pylint: disable=g-import-not-at-top,wrong-import-position
from r1jax import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from r1jax.trainers import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position

# German prompts cost more tokens with the demo's (English) tokenizer.
_RL = "stages.rl."
_LANG = {_RL + "data.task": "multilingual_arithmetic",
         _RL + "data.task_kwargs.lang": "de", _RL + "rl.host_rewards": True,
         _RL + "max_prompt_len": 256}
ARMS = {
    "grpo": {},
    "format0": {_RL + "rewards.format": 0.0},
    "dr_grpo": {_RL + "loss.preset": "dr_grpo"},
    "dapo": {_RL + "loss.preset": "dapo"},
    "lang_off": dict(_LANG, **{_RL + "rewards.language": 0.0}),
    "lang_on": dict(_LANG, **{_RL + "rewards.language": 0.5}),
}
KEYS = ("base_heldout_accuracy", "final_heldout_accuracy")


def arm_config(name: str, seed: int, rl_steps: int):
  c = r1_zero_demo.get_config("cpu")
  c.seed = seed
  g = c.stages.rl
  g.steps = rl_steps
  # Each arm's RL stage scores its own task's held-out prompts (German for
  # the lang arms) at step 0, every 10 steps and at the end: the table's
  # before/after and the plot's curve. No pipeline evaluations.
  c.evaluate_after = ()
  g.eval.num_prompts = c.evaluate.evals[r1_zero_demo.BENCH].task_count
  g.eval.every = 10
  for key, value in ARMS[name].items():
    node = c
    *path, leaf = key.split(".")
    for p in path:
      node = node[p]
    node[leaf] = value  # may add a field, e.g. the multilingual `lang`
  return c


def final_metric(rl_dir: str, key: str) -> float | None:
  m = metrics.read_metrics(os.path.join(rl_dir, "metrics.jsonl"))
  return float(m[key][1][-1]) if key in m else None


# One line per arm for --help.
ARM_HELP = {
    "grpo": "the recipe as is (R1's loss, accuracy + format rewards)",
    "format0": "format reward weight 0 (accuracy reward only)",
    "dr_grpo": "the Dr. GRPO loss preset (r1jax.losses.grpo.PRESETS)",
    "dapo": "the DAPO loss preset (r1jax.losses.grpo.PRESETS)",
    "lang_off": "German prompts ('think in German'), language-consistency "
                "reward 0",
    "lang_on": "as lang_off, language-consistency reward weight 0.5",
}


def _arms_epilog() -> str:
  """The arms, one description line and their overrides each."""
  width = max(map(len, ARMS)) + 4
  indent = " " * width
  lines = ["arms (each is configs/r1_zero_demo.py:cpu with these overrides):"]
  for name, over in ARMS.items():
    lines.append(f"  {name:<{width - 2}}{ARM_HELP[name]}")
    sets = " ".join(f"--config.{k}={v}" for k, v in over.items())
    lines.append(textwrap.fill(sets or "(no overrides)", 79,
                               initial_indent=indent,
                               subsequent_indent=indent))
  lines.append("\nwrites WORKDIR/ablation.json, ablation.md (the table) and "
               "ablation.png\n(held-out pass@1 and training reward per arm); "
               "WORKDIR/<arm>/ is that arm's\ndemo workdir.")
  return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
  """The command line; --help lists the arms."""
  head, usage = __doc__.split("\n\n")[:2]
  ap = argparse.ArgumentParser(
      description=f"{head}\n\n{usage}", epilog=_arms_epilog(),
      formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", required=True,
                  help="output directory, one sub-directory per arm; arms "
                  "finished there before with the same settings are reused "
                  "(their stages skipped) and stay in the table")
  ap.add_argument("--arms", default=",".join(ARMS),
                  help="comma-separated arms to run, from the list below "
                  "(default: %(default)s)")
  ap.add_argument("--rl_steps", type=int, default=40,
                  help="GRPO steps per arm, config.stages.rl.steps (default: "
                  "%(default)s)")
  ap.add_argument("--seed", type=int, default=0,
                  help="config.seed of every arm: model init, data order, "
                  "rollouts (default: %(default)s)")
  ap.add_argument("--rerun", action="store_true",
                  help="rerun the RL stage of arms that finished (default: "
                  "reuse them)")
  return ap


def main():
  a = parser().parse_args()
  logging.set_verbosity(logging.WARNING)
  arms = a.arms.split(",")
  for n in arms:
    if n not in ARMS:
      raise SystemExit(f"--arms: unknown arm {n!r}; known: {list(ARMS)}")
  # Arms run before (another invocation, same workdir) stay in the table.
  summary = os.path.join(a.workdir, "ablation.json")
  rows = json.load(open(summary)) if os.path.exists(summary) else {}
  shared_base = next((os.path.join(a.workdir, n, "base") for n in ARMS
                      if os.path.exists(os.path.join(a.workdir, n, "base"))),
                     None)
  for name in arms:
    wd = os.path.join(a.workdir, name)
    os.makedirs(wd, exist_ok=True)
    if shared_base and not os.path.exists(os.path.join(wd, "base")):
      os.symlink(shared_base, os.path.join(wd, "base"))
    print(f"== arm {name}: {ARMS[name] or 'the recipe as is'}", flush=True)
    rl_dir = os.path.join(wd, "rl")
    # Stages finished with the same config are skipped (the shared base).
    c = arm_config(name, a.seed, a.rl_steps)
    if a.rerun:
      c.only = "rl"
    if "interrupted" in pipeline.run(c, wd):
      raise SystemExit(f"reward_ablation: arm {name} was interrupted; "
                       "rerun the same command to go on")
    shared_base = shared_base or os.path.join(wd, "base")
    held_out = metrics.read_metrics(os.path.join(rl_dir, "metrics.jsonl"))[
        "eval/pass@1"][1]
    rows[name] = dict(zip(KEYS, (float(held_out[0]), float(held_out[-1]))))
    rows[name]["gain"] = (rows[name][KEYS[1]] - rows[name][KEYS[0]])
    for k in ("eval/cons@k", "eval/format", "reward/language",
              "length/mean", "reflection/words_mean"):
      rows[name][k] = final_metric(rl_dir, k)
    rows[name]["rl_wall_s"] = pipeline.read_marker(rl_dir).get(
        "wall_time_s")
    print(json.dumps({name: rows[name]}), flush=True)
    with open(summary, "w") as f:  # after every arm: nothing lost
      json.dump(rows, f, indent=2)

  cols = ["base_heldout_accuracy", "final_heldout_accuracy", "gain",
          "eval/cons@k", "eval/format", "reward/language", "length/mean",
          "reflection/words_mean"]
  fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
  lines = ["| arm | " + " | ".join(cols) + " |",
           "|---" * (len(cols) + 1) + "|"]
  lines += [f"| {n} | " + " | ".join(fmt(r.get(k)) for k in cols) + " |"
            for n, r in rows.items()]
  table = "\n".join(lines)
  with open(os.path.join(a.workdir, "ablation.md"), "w") as f:
    f.write(table + "\n")
  print(table)
  _plot(a.workdir, [n for n in ARMS if n in rows])


def _plot(workdir: str, arms) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for name in arms:
    m = metrics.read_metrics(os.path.join(workdir, name, "rl",
                                          "metrics.jsonl"))
    for ax, key in zip(axes, ("eval/pass@1", "reward/total")):
      if key in m:
        ax.plot(*m[key], marker="o" if key.startswith("eval") else None,
                label=name)
        ax.set_title(key)
        ax.set_xlabel("GRPO step")
  axes[0].legend()
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "ablation.png"), dpi=100)


if __name__ == "__main__":
  main()
