"""The pipeline's report: WORKDIR/results.json and results.md.

Per evaluated stage: its eval metrics, metrics read off its samples
(`text_metrics`: readability, language consistency per language) and its
paired gain over the first evaluated stage (`paired_gains`: the same
problems, standard error over problems).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from r1jax import runinfo

EVAL_DIR = "eval"
RESULTS, TABLE = "results.json", "results.md"


def _per_problem(eval_dir: str) -> dict[tuple[str, Any], float]:
  """{(benchmark, problem): mean correctness} from an eval's samples."""
  by: dict[tuple[str, Any], list[float]] = {}
  path = os.path.join(eval_dir, "samples.jsonl")
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      for line in f:
        r = json.loads(line)
        by.setdefault((r["eval"], r["problem"]), []).append(
            float(r["correct"]))
  return {k: float(np.mean(v)) for k, v in by.items()}


def paired_gains(workdir: str, names) -> dict:
  """{stage: {benchmark: gain over the first evaluated stage, its paired
  standard error over the problems both scored, problems}}."""
  names = list(names)
  if len(names) < 2:
    return {}
  first = _per_problem(os.path.join(workdir, EVAL_DIR, names[0]))
  out = {}
  for name in names[1:]:
    now = _per_problem(os.path.join(workdir, EVAL_DIR, name))
    for bench in sorted({b for b, _ in now}):
      keys = [k for k in now if k[0] == bench and k in first]
      if len(keys) < 2:
        continue
      d = np.array([now[k] - first[k] for k in keys])
      out.setdefault(name, {})[bench] = {
          "vs": names[0], "gain": float(d.mean()),
          "stderr": float(d.std(ddof=1) / np.sqrt(len(d))),
          "problems": len(keys)}
  return out


def _think_opened(e) -> bool | None:
  """Whether evaluator `e`'s prompts open <think>; None when that needs
  the model's tokenizer (a chat template with prefill=auto)."""
  from r1jax.data import templates  # pylint: disable=g-import-not-at-top
  if e.template in templates.CHAT:
    return None if e.prefill == "auto" else templates.opens_think(e.prefill)
  return templates.think_opened(e.template) or templates.opens_think(
      e.prefill)


def text_metrics(e, eval_dir: str) -> dict:
  """{evaluator: metrics} read off an eval's samples.jsonl: `readable`,
  the fraction of completions in R1's readable layout (steps one a line, a
  summary with a \\boxed answer: rejection.readable.is_readable; not for
  chat templates with prefill=auto, nor for code problems, whose answer is
  a program, never a \\boxed one), and for
  examples with a `lang`, `language/<lang>`: the mean language consistency
  of the chain of thought [R1v2 Eq. 7] (rewards.language) per target
  language, `language/non_en` over the non-English prompts, and
  `pass@1/<lang>`: the fraction of that language's samples scored correct
  (every problem has the same n samples: pass@1 over its problems); and
  R1's reflective words in the chain of thought (rewards.repetition):
  `reflection/words_mean` per completion (with `_stderr` over problems)
  and `reflection/frac_any`, the fraction with any."""
  from r1jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  from r1jax.evaluation import scoring  # pylint: disable=g-import-not-at-top
  from r1jax.rejection import readable  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import extract  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import language  # pylint: disable=g-import-not-at-top
  from r1jax.rewards.repetition import reflective_count  # pylint: disable=g-import-not-at-top
  path = os.path.join(eval_dir, "samples.jsonl")
  if not os.path.isfile(path):
    return {}
  exs = {name: evaluators.load_examples(b) for name, b in e.evals.items()}
  opened = {name: _think_opened(b) for name, b in e.evals.items()}
  by: dict[str, dict[str, list[float]]] = {}
  words_by: dict[str, dict[Any, list[int]]] = {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      r = json.loads(line)
      name, text = r["eval"], r["completion"]
      m, think = by.setdefault(name, {}), opened[name]
      ex = exs[name][r["problem"]]
      if think is not None and scoring.kind(ex) != "code":
        m.setdefault("readable", []).append(readable.is_readable(text, think))
      if think is not None:
        words = reflective_count(extract.think_section(text, think))
        words_by.setdefault(name, {}).setdefault(r["problem"], []).append(
            words)
      lang = ex.get("lang")
      if lang:
        v = language.consistency(extract.think_section(text, bool(think)),
                                 lang)
        m.setdefault(f"language/{lang}", []).append(v)
        if lang != "en":
          m.setdefault("language/non_en", []).append(v)
        if "correct" in r:
          m.setdefault(f"pass@1/{lang}", []).append(float(bool(r["correct"])))
  out = {name: {k: float(np.mean(v)) for k, v in m.items()}
         for name, m in by.items()}
  for name, per in words_by.items():
    means = np.array([np.mean(v) for v in per.values()])
    out.setdefault(name, {}).update({
        "reflection/words_mean": float(np.mean(np.concatenate(
            [np.asarray(v, float) for v in per.values()]))),
        "reflection/words_mean_stderr": float(
            means.std(ddof=1) / np.sqrt(len(means)) if len(means) > 1
            else 0.0),
        "reflection/frac_any": float(np.mean(np.concatenate(
            [np.asarray(v) > 0 for v in per.values()])))})
  return out


def _by_lang(m: dict) -> str:
  """"de 0.59 / en 0.63 / zh 0.56" from `pass@1/<lang>`; "-" with fewer
  than two languages (pass@1 says it all)."""
  langs = sorted(k.split("/", 1)[1] for k in m if k.startswith("pass@1/"))
  if len(langs) < 2:
    return "-"
  return " / ".join(f"{l} {m[f'pass@1/{l}']:.2f}" for l in langs)


def _num(v, spec=".3f") -> str:
  return "-" if v is None else format(v, spec)


# (column title, cell of a row's metrics) after stage, benchmark, pass@1
# and gain; a column no row has a value for is left out of the table.
COLUMNS = (
    ("format", lambda m: _num(m.get("format"))),
    ("readable", lambda m: _num(m.get("readable"))),
    ("language (non-en)", lambda m: _num(m.get("language/non_en"))),
    ("RM score", lambda m: _num(m.get("rm_score"))),
    ("mean length", lambda m: _num(m.get("length/mean"), ".1f")),
    ("reflective words", lambda m: _num(m.get("reflection/words_mean"),
                                        ".2f")),
    ("pass@1 per prompt language", _by_lang),
)


def markdown(rows: dict, gains: dict) -> str:
  """results.md: one line per (stage, benchmark)."""
  body = []
  for name, res in rows.items():
    for bench, m in res.items():
      g = gains.get(name, {}).get(bench)
      body.append((
          [name, bench, f"{m['pass@1']:.3f} +- {m['pass@1_stderr']:.3f}",
           f"{g['gain']:+.3f} ({g['stderr']:.3f}) vs {g['vs']}" if g
           else "-"], [cell(m) for _, cell in COLUMNS]))
  keep = [i for i in range(len(COLUMNS))
          if any(cells[i] != "-" for _, cells in body)]
  head = ["stage", "benchmark", "pass@1", "gain (paired s.e.)"] + [
      COLUMNS[i][0] for i in keep]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  lines += ["| " + " | ".join(first + [cells[i] for i in keep]) + " |"
            for first, cells in body]
  return "\n".join(lines) + "\n"


def write(c, workdir: str, evals: dict) -> dict:
  """results.json / results.md: each evaluated stage's eval metrics (and
  `text_metrics`), its paired gain over the first evaluated stage.
  `evals`: {stage: the eval config that scored it}."""
  rows = {}
  for name in c.evaluate_after:
    d = os.path.join(workdir, EVAL_DIR, name)
    if os.path.isfile(os.path.join(d, "eval.json")):
      with open(os.path.join(d, "eval.json"), encoding="utf-8") as f:
        rows[name] = json.load(f)["results"]
      for bench, m in text_metrics(evals[name], d).items():
        rows[name].setdefault(bench, {}).update(m)
  gains = paired_gains(workdir, [n for n in c.evaluate_after if n in rows])
  out = {"order": list(c.order), "evals": rows, "gains": gains}
  out.update(runinfo.summary(c, workdir))
  with open(os.path.join(workdir, RESULTS), "w", encoding="utf-8") as f:
    json.dump(out, f, indent=2)
  table = markdown(rows, gains)
  with open(os.path.join(workdir, TABLE), "w", encoding="utf-8") as f:
    f.write(table)
  print(table)
  return out
