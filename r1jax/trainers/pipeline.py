"""The `pipeline` stage: named stages run in order, each in WORKDIR/<name>.

  python -m r1jax.main --config=configs/r1.py --workdir=D
  python -m r1jax.main --config=configs/r1.py --workdir=D \
      --config.only=sft                    # run one stage again

config.order           the stage names, in the order they run
config.stages.<name>   that stage's whole config (any stage but pipeline)
config.only            '' (every stage) or one name: run it again, alone
config.evaluate_after  names of stages whose model `config.evaluate` (an
                       `eval` config) scores, into WORKDIR/eval/<name>;
                       WORKDIR/results.json and results.md gather them
config.evaluate_overrides.<name>  fields merged into config.evaluate for
                       that stage's evaluation (e.g. the template an
                       R1-Zero stage was trained with)

HAND-OFFS BY REFERENCE. A string field "@name" is WORKDIR/name (a stage's
workdir: what `init_from` reads), "@name/path" a file in it, e.g.
`data.train_file = "@rejection/sft.jsonl"`. A reference must name a stage
that runs earlier. Every stage's references, and each stage's own
`validate` (files and models an earlier stage will write count as present:
`common.written_later`), are checked before the first stage runs.

SKIPPING, RERUNNING, RESUMING. WORKDIR/<name>/pipeline.json records the
stage's key: a hash of its result fields (runinfo's fingerprint, with the
references unresolved, so a workdir can move) and of the finished stage
before it. A finished stage with the same key is skipped. A stage whose
config changed, and every stage after one that ran again, runs afresh:
its old directory is moved aside to WORKDIR/<name>.replaced-<time>
(nothing is deleted). A stage that started with the same key and was
interrupted resumes like any run (from its checkpoint). A SIGTERM or
Ctrl-C that a stage's training loop catches (it saves and returns early)
ends the pipeline there, that stage not marked finished: the same command
resumes it. Process 0 writes the markers; every process runs every stage.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import time
from typing import Any

import jax
import ml_collections
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import runinfo
from r1jax import stages as stages_lib
from r1jax.trainers import common
from r1jax.trainers import pipeline_report

MARKER = "pipeline.json"
REF = "@"
EVAL_DIR = pipeline_report.EVAL_DIR
RESULTS, TABLE = pipeline_report.RESULTS, pipeline_report.TABLE
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# validate() resolves references against this: errors that name it concern
# files an earlier stage has not written yet, and wait for that stage.
_PENDING = "/(pipeline-workdir)"


@dataclasses.dataclass(frozen=True)
class Step:
  name: str        # the stage name, or eval/<stage>
  field: str       # its config's field path, for errors
  config: Any      # ConfigDict, references unresolved
  after: str       # the stage whose finished run it follows ("" first)
  is_eval: bool


def make_config(stages: dict, evaluate=None, evaluate_after=(),
                evaluate_overrides=None) -> ml_collections.ConfigDict:
  """A pipeline config: `stages` {name: stage config} run in dict order."""
  c = ml_collections.ConfigDict()
  c.stage = "pipeline"
  # The stage names, in the order they run.
  c.order = tuple(stages)
  c.stages = ml_collections.ConfigDict(dict(stages))
  # '' runs every stage (finished ones skipped); a name runs that one again.
  c.only = ""
  # An `eval` config (configs/eval.py) run on the model of each stage
  # named in evaluate_after (its init_from is set to that stage).
  c.evaluate = evaluate if evaluate is not None else (
      ml_collections.ConfigDict({"stage": ""}))
  c.evaluate_after = tuple(evaluate_after)
  # {stage: a partial `eval` config} merged into config.evaluate for the
  # evaluation of that stage (ConfigDict.update: nested fields merge).
  c.evaluate_overrides = ml_collections.ConfigDict(
      dict(evaluate_overrides or {}))
  return c


def _refs(node, path: str):
  """(field path, value) of every "@..." string in a config."""
  if isinstance(node, ml_collections.ConfigDict):
    for k in node.keys():
      yield from _refs(node[k], f"{path}.{k}")
  elif isinstance(node, (tuple, list)):
    for i, v in enumerate(node):
      yield from _refs(v, f"{path}[{i}]")
  elif isinstance(node, str) and node.startswith(REF):
    yield path, node


def _target(value: str) -> tuple[str, str]:
  """'@name/a/b' -> ('name', 'a/b')."""
  name, _, rest = value[len(REF):].partition("/")
  return name, rest


def resolve(config, workdir: str):
  """A copy of `config` with "@name[/path]" strings -> WORKDIR/name[/path]."""
  def sub(v):
    if isinstance(v, str) and v.startswith(REF):
      name, rest = _target(v)
      return os.path.join(workdir, name, rest) if rest else os.path.join(
          workdir, name)
    if isinstance(v, (tuple, list)):
      return type(v)(sub(x) for x in v)
    return v

  def walk(node):
    for k in list(node.keys()):
      v = node[k]
      if isinstance(v, ml_collections.ConfigDict):
        walk(v)
      else:
        new = sub(v)
        if new != v:
          node[k] = new

  out = config.copy_and_resolve_references()
  with out.unlocked():
    walk(out)
  return out


def _config_errors_in(message: str, field: str) -> str:
  """A stage's own error, with its `config.` fields renamed to the
  pipeline's (`config.stages.<name>.`)."""
  return re.sub(r"\bconfig\.", field + ".", str(message))


def plan(c) -> list[Step]:
  """The stages in order, each model in `config.evaluate_after` followed by
  its evaluation."""
  out, prev = [], ""
  for name in c.order:
    out.append(Step(name, f"config.stages.{name}", c.stages[name], prev,
                    False))
    if name in c.evaluate_after:
      e = c.evaluate.copy_and_resolve_references()
      with e.unlocked():
        e.update(c.get("evaluate_overrides", {}).get(name, {}))
        e.init_from = REF + name
      out.append(Step(f"{EVAL_DIR}/{name}", "config.evaluate", e, name,
                      True))
    prev = name
  return out


def _check_names(c) -> None:
  order = list(c.order)
  if not order:
    raise ValueError("config.order: no stages (a tuple of names of "
                     "config.stages, in the order they run)")
  for name in order:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or (
        name == EVAL_DIR):
      raise ValueError(f"config.order: {name!r} is not a stage name (letters,"
                       f" digits, _ . -; not {EVAL_DIR!r}, which holds the "
                       "evaluations)")
    if order.count(name) > 1:
      raise ValueError(f"config.order: {name!r} appears twice")
    if name not in c.stages:
      raise ValueError(f"config.order: {name!r} has no config.stages."
                       f"{name}; stages: {sorted(c.stages)}")
  for name in c.stages:
    if name not in order:
      raise ValueError(f"config.stages.{name} is not in config.order "
                       f"{tuple(order)}: add it, or remove the block")
  for name in c.evaluate_after:
    if name not in order:
      raise ValueError(f"config.evaluate_after: {name!r} is not a stage; "
                       f"config.order: {tuple(order)}")
  for name in c.get("evaluate_overrides", {}):
    if name not in c.evaluate_after:
      raise ValueError(f"config.evaluate_overrides.{name}: {name!r} is not "
                       f"in config.evaluate_after {tuple(c.evaluate_after)}")
  if c.evaluate_after and c.evaluate.get("stage") != "eval":
    raise ValueError("config.evaluate must be an `eval` config "
                     "(configs/eval.py) when config.evaluate_after names "
                     "stages")
  if c.only and c.only not in order:
    raise ValueError(f"config.only={c.only!r}: not a stage; config.order: "
                     f"{tuple(order)}")


def _check_refs(step: Step, order: list[str]) -> None:
  here = order.index(step.after if step.is_eval else step.name)
  for path, value in _refs(step.config, step.field):
    name, _ = _target(value)
    if name in order and order.index(name) < here + step.is_eval:
      continue
    if name in order:
      why = (f"stage {name!r} runs at or after "
             f"{order[here]!r} (config.order: {tuple(order)})")
    else:
      close = difflib.get_close_matches(name, order, n=1, cutoff=0.6)
      why = (f"no stage {name!r}" + (f"; did you mean {close[0]!r}?" if close
                                     else "") +
             f" (config.order: {tuple(order)})")
    raise ValueError(f"{path}={value!r}: a hand-off must name a stage that "
                     f"runs earlier: {why}")


def validate(c) -> None:
  """Names, hand-offs and every stage's own validate, before anything
  runs; errors name the field as `config.stages.<name>.<field>`."""
  _check_names(c)
  order = list(c.order)
  for step in plan(c):
    _check_refs(step, order)
    stage = step.config.get("stage")
    if stage == "pipeline" or stage not in stages_lib.STAGES:
      raise ValueError(
          f"{step.field}.stage={stage!r}; allowed: "
          f"{[s for s in stages_lib.names() if s != 'pipeline']}")
    try:
      with common.written_later(_PENDING):
        stages_lib.module(stage).validate(resolve(step.config, _PENDING))
    except ValueError as e:  # a check that reads a file not yet written
      if _PENDING not in str(e):
        raise ValueError(_config_errors_in(e, step.field)) from e


def key(step: Step, after_id: str) -> str:
  """The stage's result fields (references unresolved) and what it follows."""
  fp = runinfo.fingerprint(runinfo.result_fields(runinfo.resolved(
      step.config)))
  return hashlib.sha256(f"{fp}|{after_id}".encode()).hexdigest()[:16]


def read_marker(directory: str) -> dict | None:
  path = os.path.join(directory, MARKER)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def finished(directory: str) -> bool:
  """Whether `directory` holds a stage the pipeline marked finished."""
  m = read_marker(directory)
  return bool(m and m.get("finished_id"))


def prefix(c, last: str, evaluations: bool = True
           ) -> ml_collections.ConfigDict:
  """A copy of pipeline config `c` with only the stages up to `last` (and
  their evaluations, or none). Their keys are the whole pipeline's, so the
  whole pipeline run later in the same workdir skips them."""
  order = list(c.order)
  if last not in order:
    raise ValueError(f"{last!r} is not a stage; config.order: "
                     f"{tuple(order)}")
  keep = order[:order.index(last) + 1]
  out = c.copy_and_resolve_references()
  with out.unlocked():
    for name in order[len(keep):]:
      del out.stages[name]
    out.order = tuple(keep)
    out.evaluate_after = tuple(n for n in c.evaluate_after
                               if n in keep and evaluations)
    for name in list(out.evaluate_overrides):
      if name not in out.evaluate_after:
        del out.evaluate_overrides[name]
  return out


def _write_marker(directory: str, value: dict) -> None:
  if jax.process_index() == 0:
    tmp = os.path.join(directory, f"{MARKER}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(value, f, indent=2)
    os.replace(tmp, os.path.join(directory, MARKER))


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def _now() -> str:
  return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _move_aside(directory: str, why: str) -> None:
  stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
  dest, n = f"{directory}.replaced-{stamp}", 1
  while os.path.exists(dest):  # moved twice within a second
    n += 1
    dest = f"{directory}.replaced-{stamp}-{n}"
  logging.warning("pipeline: %s: %s; moving the old run to %s", directory,
                  why, dest)
  if jax.process_index() == 0:
    os.rename(directory, dest)
  _sync(f"pipeline-move:{directory}")


def _finished_ids(steps: list[Step], workdir: str) -> dict[str, str]:
  """{stage: finished_id} of stages finished with the current keys."""
  ids, prev_id = {}, ""
  for step in steps:
    if step.is_eval:
      continue
    m = read_marker(os.path.join(workdir, step.name))
    if not (m and m.get("finished_id") and m["key"] == key(step, prev_id)):
      break
    ids[step.name] = prev_id = m["finished_id"]
  return ids


def _run_step(step: Step, workdir: str, k: str, fresh: bool) -> bool:
  """Runs `step`; whether a signal interrupted it (then, if its loop
  stopped early, it is not marked finished)."""
  d = os.path.join(workdir, step.name)
  m = read_marker(d)
  if os.path.exists(d) and (fresh or (m is not None and m["key"] != k)):
    _move_aside(d, "run again (config.only)" if fresh else
                "its config or an earlier stage changed")
  os.makedirs(d, exist_ok=True)
  stage = step.config.stage
  resumed = m is not None and m["key"] == k and not fresh
  logging.info("pipeline: %s %s (%s) in %s", "resuming" if resumed else
               "running", step.name, stage, d)
  started = _now()
  _write_marker(d, {"name": step.name, "stage": stage, "key": k,
                    "started": started, "finished_id": None})
  _sync(f"pipeline-start:{step.name}")
  t = time.time()
  ckpt_lib.take_interrupt()  # what an earlier run saw is not this one's
  stages_lib.module(stage).run(resolve(step.config, workdir), d)
  _sync(f"pipeline-end:{step.name}")
  # Its loop stopped early for a signal (saved), or a signal came after.
  stopped, signalled = ckpt_lib.take_interrupt()
  if stopped:
    return True
  done = _now()
  _write_marker(d, {"name": step.name, "stage": stage, "key": k,
                    "started": started, "finished": done,
                    "wall_time_s": time.time() - t,
                    "finished_id": hashlib.sha256(
                        f"{k}|{done}|{os.getpid()}".encode()).hexdigest()[:16]
                    })
  _sync(f"pipeline-marked:{step.name}")
  return signalled


def run(c, workdir: str) -> dict:
  validate(c)
  os.makedirs(workdir, exist_ok=True)
  runinfo.record(c, workdir)
  steps = plan(c)
  order = list(c.order)
  if c.only:
    done = _finished_ids(steps, workdir)
    missing = [n for n in order[:order.index(c.only)] if n not in done]
    if missing:
      raise ValueError(
          f"config.only={c.only!r}: the stages before it must have finished "
          f"with this config first; not finished (or changed): {missing}. "
          "Run the pipeline without config.only.")
  ids: dict[str, str] = {}
  ran, skipped = [], []
  for step in steps:
    owner = step.after if step.is_eval else step.name
    if c.only and owner != c.only:
      if not step.is_eval and order.index(step.name) < order.index(c.only):
        ids[step.name] = read_marker(
            os.path.join(workdir, step.name))["finished_id"]
      continue
    after_id = ids[step.after] if step.is_eval else ids.get(step.after, "")
    k = key(step, after_id)
    m = read_marker(os.path.join(workdir, step.name))
    fresh = bool(c.only) and not step.is_eval
    if m and m["key"] == k and m.get("finished_id") and not fresh:
      logging.info("pipeline: %s finished (key %s); skipped", step.name, k)
      skipped.append(step.name)
    else:
      interrupted = _run_step(step, workdir, k, fresh)
      ran.append(step.name)
      if interrupted:
        logging.warning(
            "pipeline: interrupted in %s (%s); stopping here. Rerun the same "
            "command to go on from there.", step.name,
            "saved before its end" if not read_marker(
                os.path.join(workdir, step.name)).get("finished_id")
            else "after it finished")
        return {"ran": ran, "skipped": skipped, "interrupted": step.name}
      m = read_marker(os.path.join(workdir, step.name))
    if not step.is_eval:
      ids[step.name] = m["finished_id"]
  out = {"ran": ran, "skipped": skipped}
  if c.evaluate_after and jax.process_index() == 0:
    out.update(report(c, workdir))
  return out


def report(c, workdir: str) -> dict:
  """results.json / results.md for the stages in config.evaluate_after."""
  evals = {s.after: s.config for s in plan(c) if s.is_eval}
  return pipeline_report.write(c, workdir, evals)
