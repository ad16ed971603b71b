"""What a run is: its resolved config, a fingerprint of the fields that
change its results, and the rule that a workdir is only continued by the
config that started it.

Files in a workdir (process 0 writes them; every process reads them):

  config.json       the resolved config: presets expanded (grpo: every
                    `config.loss` field the preset fills in)
  fingerprint.json  {"fingerprint", "fields": {field: value} of the fields
                    that change results, "code_version", "time"}
  history.jsonl     one line per run continued with `config.resume=force`:
                    time, the changed fields (old, new), both fingerprints

A workdir that holds state (a checkpoint, or generate's output) is resumed
only when the result fields match; otherwise `check` raises
`RunMismatchError` on every process before anything runs, naming the fields
(old -> new) and the two ways forward: a new --workdir, or
--config.resume=force.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import importlib.metadata
import json
import os
import subprocess
import time
from typing import Any, Sequence

import jax
from absl import logging

from r1jax import checkpoint as ckpt_lib

CONFIG = "config.json"
FINGERPRINT = "fingerprint.json"
HISTORY = "history.jsonl"
# What a stage leaves to resume from besides checkpoints/ (generate).
OUTPUTS = ("generations.jsonl",)
RESUME_MODES = ("auto", "force")
_ABSENT = "(absent)"

# Fields that do NOT change what a run computes, so a resumed run may
# change them freely. A pattern matches a field or any dotted tail of it
# (`log.*` also matches `grpo.log.every` in the demo's config). Everything
# else changes results, deliberately including:
#  - `steps`: the length of the lr schedule (cosine / linear decay) and of
#    the run; extending a finished run needs --config.resume=force, and is
#    recorded, because its numbers differ from a fresh run of that length;
#  - `rl.rollout_chunks`, `eval.batch_prompts`, generate's `batch_prompts`:
#    every chunk or batch draws its own random key;
#  - paths (`init_from`, `tokenizer`, `data.train_file`): the path is
#    compared, not the file's content.
NOT_RESULTS = (
    # How an existing run is treated, not what it computes.
    "resume",
    # What is logged and how often; `max_bad_steps` only aborts a run.
    "log.*",
    # When state is saved: a resumed run repeats an uninterrupted one
    # exactly (trainers/loop.py); `export_hf` adds files after training.
    "checkpoint.*",
    # The device layout: the same math on any mesh (DESIGN principle 3) up
    # to float summation order; a preempted job may resume on another slice.
    "mesh.*",
    # Recomputes activations in the backward pass: the same values.
    "model.remat",
    # Attention kernel and chunk sizes: the same math up to float order.
    "model.attention",
    "model.attention_chunk",
    "model.logits_chunk",
    # Gradient accumulation (memory only): the loss uses global normalisers,
    # so the sum is the same up to float order. GRPO's local_token_mean
    # aggregation depends on it by design: kept there (see _excluded).
    "data.microbatches",
    # Batches read ahead on a thread: the same batches, sooner.
    "data.prefetch",
    "rl.microbatches",
    # Intermediate held-out evals read the policy and never change training;
    # the evals at the start and at the end always run.
    "eval.every",
    # The eval runner draws each sample with its own key: rows per sampler
    # call do not change what is sampled; the checker's time limit only
    # matters for answers that hang math-verify. (Trainers' eval.*, and the
    # eval and generate stages' own fields.)
    "batch_rows",
    "math_timeout_s",
    # Queued units per continuous-batching call: the same per-sample keys,
    # so the same samples (float32; bf16 rounding depends on batch shape, as
    # batch_rows' does).
    "continuous_batching",
    # The reward_model stage's held-out scoring batch: the same scores.
    "eval.batch_size",
    # Rewards computed at weight 0 for their metrics only.
    "reward_report",
)

# Fields added to the configs after runs were made, with the value that is
# the behaviour those runs had (off), when that value is not "" (every
# unset path or name). A run written before the field existed resumes with
# it at this value; any other value is a change. Matched like NOT_RESULTS.
ADDED_OFF = {
    # On-policy distillation (distill.teacher "" is covered by the rule).
    "distill.coef": 0.0,
    # SFT length in passes over the data (0: config.steps decides).
    "epochs": 0.0,
    # SFT files read after data.train_file.
    "data.extra_files": [],
    # Reward scopes (sources "" is covered by the rule): from the start.
    "reward_scope.*.start_step": 0,
    # Options that were the reward function's default before the config
    # listed every option of its signature (rewards.registry.options).
    # The generate stage's judge block (judge.init_from "" is the rule).
    "judge.template": "verdict",
    "judge.span": "summary",
    "judge.chat": "auto",
    "judge.max_new_tokens": 16,
    "reward_options.language.languages": ["en", "de", "fr", "es", "it", "pt",
                                          "ru", "zh", "ja", "ko"],
    # The code rewards (off) and their options' defaults.
    "rewards.code": 0.0,
    "rewards.code_partial": 0.0,
    "reward_options.code*.time_limit_s": 4.0,
    "reward_options.code*.num_workers": 2,
}


class RunMismatchError(ValueError):
  """The workdir holds a run made with other result-changing values."""


def resume_mode(c) -> str:
  """`config.resume` (auto when the config has no such field)."""
  mode = c.get("resume", "auto") or "auto"
  if mode not in RESUME_MODES:
    raise ValueError(f"config.resume={mode!r}; allowed: "
                     f"{', '.join(RESUME_MODES)}")
  return mode


def resolved(c) -> dict:
  """The config as JSON values with presets expanded, by stage."""
  out = json.loads(c.to_json_best_effort(sort_keys=True))
  stage = out.get("stage")
  if stage == "grpo":
    from r1jax.trainers import grpo  # pylint: disable=g-import-not-at-top
    loss = dataclasses.asdict(grpo.loss_config(c))
    out["loss"] = json.loads(json.dumps(dict(preset=c.loss.preset, **loss),
                                        sort_keys=True))
  elif stage == "pipeline":  # each stage's presets expanded too
    c = c.copy_and_resolve_references()
    for name in c.stages:
      out["stages"][name] = resolved(c.stages[name])
  return out


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))  # an empty block: no field
    else:
      out[prefix + k] = v
  return out


def _excluded(field: str, flat: dict) -> bool:
  parts = field.split(".")
  tails = [".".join(parts[i:]) for i in range(len(parts))]
  if not any(fnmatch.fnmatchcase(t, p) for t in tails for p in NOT_RESULTS):
    return False
  if field.endswith("rl.microbatches"):  # BNPO normalises per micro-batch
    agg = field[:-len("rl.microbatches")] + "loss.aggregation"
    return flat.get(agg) != "local_token_mean"
  return True


def _added_off(field: str) -> Any:
  """The value an absent `field` had: its ADDED_OFF entry, else ""."""
  parts = field.split(".")
  for i in range(len(parts)):
    tail = ".".join(parts[i:])
    for pattern, value in ADDED_OFF.items():
      if fnmatch.fnmatchcase(tail, pattern):
        return value
  return ""


def result_fields(config_json: dict) -> dict[str, Any]:
  """{dotted field: value} of a resolved config, NOT_RESULTS left out."""
  flat = _flatten(config_json)
  return {k: v for k, v in flat.items() if not _excluded(k, flat)}


def fingerprint(fields: dict) -> str:
  """A stable hash of `result_fields`."""
  text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def code_version() -> str:
  """The git commit of the r1jax checkout (`+modified` with uncommitted
  changes to tracked files), else the installed package version."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  def git(*args) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True,
                          text=True, timeout=20, check=True).stdout.strip()

  try:
    top, commit = git("rev-parse", "--show-toplevel", "HEAD").splitlines()
    # Only this package's own checkout, not a repository it sits inside.
    if os.path.realpath(top) == os.path.realpath(root):
      dirty = git("status", "--porcelain", "--untracked-files=no")
      return commit + ("+modified" if dirty else "")
  except (OSError, ValueError, subprocess.SubprocessError):
    pass
  try:
    return "r1jax " + importlib.metadata.version("r1jax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def _state(workdir: str) -> str | None:
  """What a rerun in `workdir` would resume from (None: nothing)."""
  ckpts = ckpt_lib.checkpoints_dir(workdir)
  steps = ([int(n) for n in os.listdir(ckpts) if n.isdigit()]
           if os.path.isdir(ckpts) else [])
  if steps:
    return f"checkpoint at step {max(steps)}"
  for name in OUTPUTS:
    path = os.path.join(workdir, name)
    if os.path.isfile(path) and os.path.getsize(path):
      return name
  return None


def _read(path: str) -> Any:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def changes(c, workdir: str) -> dict[str, tuple[Any, Any]]:
  """{field: (old, new)} of result fields that differ between the run in
  `workdir` and `c`; {} when they match or there is nothing to resume."""
  path = os.path.join(workdir, FINGERPRINT)
  if _state(workdir) is None:
    return {}
  if not os.path.isfile(path):
    logging.warning("%s holds a run but no %s (written by an older r1jax): "
                    "its config cannot be checked", workdir, FINGERPRINT)
    return {}
  flat = _read(path)["fields"]
  old = {k: v for k, v in flat.items() if not _excluded(k, flat)}
  new = result_fields(resolved(c))
  # A field added to the config since that run, set to "" (unset, in every
  # r1jax config) or to its ADDED_OFF value, is the behaviour that run had;
  # so is a field removed since, if that run had it at "" or as an empty
  # block (older fingerprints recorded empty blocks as values).
  def get(d, k):
    v = d.get(k, _added_off(k))
    return "" if v == {} else v
  return {k: (old.get(k, _ABSENT), new.get(k, _ABSENT))
          for k in sorted(set(old) | set(new))
          if get(old, k) != get(new, k)}


def _show(v: Any) -> str:
  return v if v == _ABSENT else json.dumps(v)


def mismatch_message(problems: Sequence[tuple[str, str, dict]],
                     hint: str = "") -> str:
  """problems: (workdir, field prefix, changes) of each refused run."""
  lines = ["the config differs from the run already in the workdir, in "
           "fields that change results (nothing was run):"]
  for workdir, prefix, diff in problems:
    lines.append(f"  {workdir} ({_state(workdir)}):")
    lines += [f"    {prefix}{k}: {_show(a)} -> {_show(b)}"
              for k, (a, b) in diff.items()]
  lines += ["Either",
            "  - start a new run: --workdir=<a new directory>"
            + (f" ({hint})" if hint else "") + ", or",
            "  - continue this one with the new values, recording the "
            f"change in its {HISTORY}: --config.resume=force"]
  return "\n".join(lines)


def check(runs: Sequence[tuple[Any, str, str]], hint: str = "") -> None:
  """Raises RunMismatchError if any (config, workdir, field prefix) holds
  a run with other result fields, unless its config.resume is force;
  `hint` is added to the new-workdir advice."""
  problems = []
  for c, workdir, prefix in runs:
    diff = changes(c, workdir)
    if diff and resume_mode(c) != "force":
      problems.append((workdir, prefix, diff))
  if problems:
    raise RunMismatchError(mismatch_message(problems, hint))


def _now() -> str:
  return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_json(path: str, value: Any) -> None:
  """Atomically (other processes may be reading the old file)."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)


def record(c, workdir: str) -> dict:
  """Refuses a workdir that holds a run with other result fields (unless
  config.resume=force), then writes config.json and fingerprint.json (and
  a history.jsonl line when forced). Returns the resolved config."""
  force = resume_mode(c) == "force"
  diff = changes(c, workdir)
  if diff and not force:
    raise RunMismatchError(mismatch_message([(workdir, "", diff)]))
  res = resolved(c)
  fields = result_fields(res)
  fp = fingerprint(fields)
  state = _state(workdir)
  fp_path = os.path.join(workdir, FINGERPRINT)
  if diff:
    old_fp = _read(fp_path)["fingerprint"]
    logging.warning("config.resume=force: continuing %s (%s) with changed "
                    "fields %s; recorded in %s", workdir, state,
                    {k: list(v) for k, v in diff.items()}, HISTORY)
  elif state:
    logging.info("resuming %s (%s): same config (fingerprint %s)%s",
                 workdir, state, fp, _other_changes(res, workdir))
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    _write_json(os.path.join(workdir, CONFIG), res)
    _write_json(fp_path, {"fingerprint": fp, "fields": fields,
                          "code_version": code_version(), "time": _now()})
    if diff:
      with open(os.path.join(workdir, HISTORY), "a", encoding="utf-8") as f:
        f.write(json.dumps({
            "time": _now(), "event": "resume=force", "resumed_from": state,
            "changed": {k: list(v) for k, v in diff.items()},
            "fingerprint": [old_fp, fp],
            "code_version": code_version()}) + "\n")
  return res


def _other_changes(res: dict, workdir: str) -> str:
  """For the resume log line: changed fields that do not change results."""
  path = os.path.join(workdir, CONFIG)
  if not os.path.isfile(path):
    return ""
  old, new = _flatten(_read(path)), _flatten(res)
  diff = [f"{k} {_show(old.get(k, _ABSENT))} -> {_show(new.get(k, _ABSENT))}"
          for k in sorted(set(old) | set(new))
          if old.get(k, _ABSENT) != new.get(k, _ABSENT)]
  return f"; changed: {', '.join(diff)}" if diff else ""


def history(workdir: str) -> list[dict]:
  """The forced continuations recorded in workdir/history.jsonl."""
  path = os.path.join(workdir, HISTORY)
  if not os.path.isfile(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def summary(c, workdir: str) -> dict:
  """What results files carry: the resolved config, its fingerprint, the
  code version and any forced changes."""
  res = resolved(c)
  out = {"config": res, "fingerprint": fingerprint(result_fields(res)),
         "code_version": code_version()}
  forced = history(workdir)
  if forced:
    out["resume_history"] = forced
  return out
