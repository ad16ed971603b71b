"""What rejection sampling kept, per filter and per prompt difficulty.

A prompt's difficulty is its pass rate: the fraction of its k samples
that are correct. Rejection sampling keeps nothing from prompts the model
never solves, so the acceptance per difficulty bucket shows which
problems the SFT data can teach and which it drops.
"""

from __future__ import annotations

import collections
from typing import Any, Mapping, Sequence

# Pass-rate buckets: never solved, four quarters, always solved.
BUCKETS = ("0", "(0, .25]", "(.25, .5]", "(.5, .75]", "(.75, 1)", "1")


def bucket(pass_rate: float) -> str:
  """The label of the BUCKETS entry that holds `pass_rate`."""
  if pass_rate <= 0:
    return BUCKETS[0]
  if pass_rate >= 1:
    return BUCKETS[-1]
  for label, hi in zip(BUCKETS[1:4], (0.25, 0.5, 0.75)):
    if pass_rate <= hi:
      return label
  return BUCKETS[4]


def _fraction(num: int, den: int) -> float | None:
  return num / den if den else None


def _filter_rows(counts: Mapping[str, Any]) -> list[dict[str, Any]]:
  """Per filter, in chain order: rejected, of the total and of those that
  reached it."""
  rows, reaching = [], counts["total"]
  transformed = counts.get("transformed", {})
  for name, n in counts["rejected"].items():
    rows.append({"name": name, "reaching": reaching, "rejected": n,
                 "of_total": _fraction(n, counts["total"]),
                 "of_reaching": _fraction(n, reaching),
                 "transformed": transformed.get(name)})
    reaching -= n
  return rows


def filter_report(samples: Sequence[Mapping[str, Any]],
                  counts: Mapping[str, Any],
                  num_samples_per_prompt: int) -> dict[str, Any]:
  """A JSON-serialisable summary of a filtered batch.

  `samples` are all annotated samples (`chain.apply`, maybe `select`),
  `counts` their counts. Keys: total, kept, acceptance, prompts,
  prompts_zero_kept, prompts_incomplete (not k samples), filters (per
  filter rows), kept_per_prompt (histogram, "0".."k"), difficulty (per
  pass-rate bucket: prompts, samples, kept, acceptance, prompts_zero_kept).
  """
  total, kept = counts["total"], counts["kept"]
  if len(samples) != total or kept + sum(counts["rejected"].values()) \
      != total:
    raise ValueError(f"counts {dict(counts)} do not describe these "
                     f"{len(samples)} samples")
  per_prompt = collections.defaultdict(lambda: [0, 0, 0])  # n, correct, kept
  for s in samples:
    row = per_prompt[str(s["id"])]
    row[0] += 1
    row[1] += bool(s["correct"])
    row[2] += s["rejected_by"] is None
  k = int(num_samples_per_prompt)
  top = max([k] + [r[2] for r in per_prompt.values()])
  hist = {str(j): 0 for j in range(top + 1)}
  by_bucket = {b: {"bucket": b, "prompts": 0, "samples": 0, "kept": 0,
                   "prompts_zero_kept": 0} for b in BUCKETS}
  for n, n_correct, n_kept in per_prompt.values():
    hist[str(n_kept)] += 1
    row = by_bucket[bucket(n_correct / n)]
    row["prompts"] += 1
    row["samples"] += n
    row["kept"] += n_kept
    row["prompts_zero_kept"] += n_kept == 0
  for row in by_bucket.values():
    row["acceptance"] = _fraction(row["kept"], row["samples"])
  return {
      "total": total, "kept": kept, "acceptance": _fraction(kept, total),
      "num_samples_per_prompt": k, "prompts": len(per_prompt),
      "prompts_zero_kept": hist["0"],
      "prompts_incomplete": sum(r[0] != k for r in per_prompt.values()),
      "filters": _filter_rows(counts), "kept_per_prompt": hist,
      "difficulty": list(by_bucket.values()),
  }


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report: Mapping[str, Any]) -> str:
  """Two markdown tables: per filter, and per pass-rate bucket."""
  lines = [
      f"Kept {report['kept']} of {report['total']} samples "
      f"({_pct(report['acceptance'])}) from {report['prompts']} prompts "
      f"x {report['num_samples_per_prompt']}; "
      f"{report['prompts_zero_kept']} prompts kept none.", "",
      "| filter | reaching | rejected | of total | of reaching | "
      "texts changed |",
      "|---|---:|---:|---:|---:|---:|"]
  for r in report["filters"]:
    changed = "" if r["transformed"] is None else str(r["transformed"])
    lines.append(f"| {r['name']} | {r['reaching']} | {r['rejected']} | "
                 f"{_pct(r['of_total'])} | {_pct(r['of_reaching'])} | "
                 f"{changed} |")
  lines += ["", "| pass rate | prompts | samples | kept | acceptance | "
            "prompts with none kept |", "|---|---:|---:|---:|---:|---:|"]
  for r in report["difficulty"]:
    lines.append(f"| {r['bucket']} | {r['prompts']} | {r['samples']} | "
                 f"{r['kept']} | {_pct(r['acceptance'])} | "
                 f"{r['prompts_zero_kept']} |")
  return "\n".join(lines) + "\n"
