r"""One pipeline config run with several seeds: a per-stage table and plot.

  for s in 0 1; do
    python -m r1jax.main --config=configs/r1.py:mini --workdir=/tmp/r1mini_$s \
        --config.seed=$s
  done
  python experiments/pipeline_seeds.py --out=/tmp/r1mini_seeds \
      --bench=multilingual_arithmetic --general=general_chat \
      /tmp/r1mini_0 /tmp/r1mini_1

Reads each workdir's results.json (r1jax/trainers/pipeline_report.py: the
eval of every evaluated stage on the same held-out problems) and writes
OUT/seeds.md (per stage: each seed's value and the mean over seeds, for
pass@1 with its standard error over problems, the paired gain over the
first evaluated stage, format, the readable-layout rate, the chain of
thought's language consistency on non-English prompts, the mean length
and R1's reflective words per answer; with --general, that benchmark's
pass@1 and reward-model score too: on the mini's general requests, the
gold rule's helpfulness and the helpfulness RM's score), OUT/seeds.json
and OUT/seeds.png (each metric against the stage, one line per seed,
pass@1 with +-1 standard error).
"""

import argparse
import json
import os

import numpy as np

# (results.json key, column title); pass@1 and the gain come first.
METRICS = (("format", "format"), ("readable", "readable"),
           ("language/non_en", "language (non-en)"),
           ("length/mean", "mean length"),
           ("reflection/words_mean", "reflective words"))


def load(workdir: str) -> dict:
  path = os.path.join(workdir, "results.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no results.json (has the pipeline "
                            "finished its evaluations?)")
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _bench(res: dict, bench: str, name: str, stage: str) -> dict:
  if not bench:
    if len(res) != 1:
      raise ValueError(f"{name}: stage {stage!r} has benchmarks "
                       f"{sorted(res)}: name one with --bench")
    bench = next(iter(res))
  if bench not in res:
    raise KeyError(f"{name}: stage {stage!r} has no benchmark {bench!r} "
                   f"(has {sorted(res)})")
  return bench


def table(runs: dict, bench: str = "", general: str = "") -> dict:
  """{stage: {metric: [value per seed]}} over the stages every run
  evaluated, in run order; `bench` defaults to each stage's only one;
  `general`: a second benchmark whose pass@1 becomes column "general"."""
  first = next(iter(runs.values()))
  stages = [s for s in first["evals"]
            if all(s in r["evals"] for r in runs.values())]
  out = {}
  for s in stages:
    row = {}
    for name, r in runs.items():
      res = r["evals"][s]
      b = _bench(res, bench, name, s)
      m, g = res[b], r.get("gains", {}).get(s, {}).get(b)
      vals = {"pass@1": m["pass@1"], "pass@1_stderr": m["pass@1_stderr"],
              "gain": g["gain"] if g else None,
              "gain_stderr": g["stderr"] if g else None}
      vals.update({k: m.get(k) for k, _ in METRICS})
      if general:
        gm = res[_bench(res, general, name, s)]
        vals["general"], vals["general_rm"] = gm["pass@1"], gm.get("rm_score")
      for k, v in vals.items():
        row.setdefault(k, []).append(v)
    out[s] = row
  return out


def _mean(values) -> float | None:
  v = [x for x in values if x is not None]
  return float(np.mean(v)) if len(v) == len(values) and v else None


def _metrics(rows: dict) -> tuple:
  """METRICS, plus the general benchmark's pass@1 when the table has it."""
  extra = (("general", "general pass@1"),
           ("general_rm", "general RM score")) if any(
               "general" in r for r in rows.values()) else ()
  return METRICS + extra


def markdown(rows: dict, seeds: list[str]) -> str:
  def f(v, spec=".3f"):
    return "-" if v is None else format(v, spec)

  metrics = _metrics(rows)
  head = ("| stage | pass@1 per seed (+- s.e.) | mean | gain per seed "
          "(paired s.e.) | " + " | ".join(t for _, t in metrics) + " |")
  lines = [f"Seeds (one workdir each): {', '.join(seeds)}. Metric columns: "
           "per seed / mean.", "", head,
           "|" + "---|" * (4 + len(metrics))]
  for s, r in rows.items():
    p = ", ".join(f"{v:.3f} +- {e:.3f}"
                  for v, e in zip(r["pass@1"], r["pass@1_stderr"]))
    g = ", ".join("-" if v is None else f"{v:+.3f} ({e:.3f})"
                  for v, e in zip(r["gain"], r["gain_stderr"]))
    cols = []
    for k, _ in metrics:
      spec = ".1f" if k == "length/mean" else ".3f"
      cols.append(" / ".join(f(v, spec) for v in r[k])
                  + f" / **{f(_mean(r[k]), spec)}**")
    lines.append(f"| {s} | {p} | {f(_mean(r['pass@1']))} | {g} | "
                 + " | ".join(cols) + " |")
  return "\n".join(lines) + "\n"


def plot(rows: dict, seeds: list[str], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  names = [("pass@1", "held-out pass@1 (+-1 s.e.)")] + list(_metrics(rows))
  fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5))
  x = np.arange(len(rows))
  for i, seed in enumerate(seeds):
    for ax, (k, title) in zip(axes, names):
      y = [np.nan if r[k][i] is None else r[k][i] for r in rows.values()]
      err = ([r["pass@1_stderr"][i] for r in rows.values()]
             if k == "pass@1" else None)
      ax.errorbar(x + 0.05 * i, y, yerr=err, marker="o", capsize=3,
                  label=seed)
      ax.set_title(title)
  for ax in axes:
    ax.set_xticks(x, list(rows), rotation=30, ha="right")
    ax.grid(alpha=0.3)
  axes[0].legend(title="seed")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv=None) -> dict:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawTextHelpFormatter)
  ap.add_argument("workdirs", nargs="+",
                  help="finished pipeline workdirs, one per seed")
  ap.add_argument("--out", required=True,
                  help="where seeds.md, seeds.json and seeds.png go")
  ap.add_argument("--bench", default="",
                  help="the benchmark to report (default: each stage's "
                  "only one)")
  ap.add_argument("--general", default="",
                  help="a second benchmark whose pass@1 gets a column "
                  "(the mini: general_chat, the gold rule's helpfulness)")
  a = ap.parse_args(argv)
  runs = {}
  for w in a.workdirs:
    r = load(w)
    seed = r.get("config", {}).get("seed")
    runs[f"{seed}" if seed is not None else os.path.basename(w)] = r
  if len(runs) != len(a.workdirs):
    raise ValueError(f"two workdirs have the same seed: {a.workdirs}")
  rows = table(runs, a.bench, a.general)
  seeds = list(runs)
  os.makedirs(a.out, exist_ok=True)
  text = markdown(rows, seeds)
  with open(os.path.join(a.out, "seeds.md"), "w", encoding="utf-8") as f:
    f.write(text)
  with open(os.path.join(a.out, "seeds.json"), "w", encoding="utf-8") as f:
    json.dump({"seeds": seeds, "workdirs": a.workdirs, "stages": rows}, f,
              indent=2)
  plot(rows, seeds, os.path.join(a.out, "seeds.png"))
  print(text)
  return rows


if __name__ == "__main__":
  main()
