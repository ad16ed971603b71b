"""Entry point: `python -m r1jax.main --config=configs/X.py[:arg] --workdir=D`.

Dispatches on `config.stage` through STAGES. Mistakes on the command line
(an unknown config field, a value that does not parse, a config that fails
its stage's `validate`) print one line, `error: ...`, and exit with status
2; errors while training keep their traceback.
"""

import contextlib
import difflib
import os
import re
import sys
import tempfile

from absl import app
from absl import flags
from ml_collections import config_flags

from r1jax import stages

_CONFIG = config_flags.DEFINE_config_file("config", None, "Recipe config.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output / resume directory.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() first: one "
    "process per host (Cloud TPU pod slices, multi-node GPU); every host "
    "runs the same command.")
flags.mark_flags_as_required(["config", "workdir"])

# config.stage -> module exposing validate(config) and run(config, workdir).
STAGES = stages.STAGES
USAGE_EXIT = 2
# TensorFlow's C++ start-up lines, printed when a stage module (or a config
# file) imports it.
_NATIVE_NOISE = ("All log messages before absl::InitializeLog()",
                 "oneDNN custom operations are on")


def usage_error(message: str):
  """Prints `error: message` as one line and exits with status 2."""
  sys.stderr.write("error: " + " ".join(str(message).split()) + "\n")
  sys.stderr.flush()
  sys.exit(USAGE_EXIT)


def _config_arg(argv) -> str | None:
  """The value of --config in argv (`--config=X` or `--config X`)."""
  for i, arg in enumerate(argv):
    m = re.fullmatch(r"--?config(?:=(.*))?", arg)
    if m:
      return m.group(1) if m.group(1) is not None else (
          argv[i + 1] if i + 1 < len(argv) else None)
  return None


def _overrides(argv) -> list[str]:
  """Field paths overridden in argv: `--config.a.b=1` -> 'a.b'."""
  out = []
  for arg in argv:
    m = re.match(r"--?(?:no)?config\.([^=]+)", arg)
    if m:
      out.append(m.group(1))
  return out


def _stage_hint(config, name: str) -> tuple[str | None, str | None]:
  """For `config.<name>` on a pipeline config: (the stage `name` means, if
  it is a stage or a stage type, e.g. `config.grpo.steps` from before the
  R1-Zero demo became a pipeline; the pipeline's stages, listed), or
  (None, None) for other configs."""
  if config.get("stage") != "pipeline" or "stages" not in config:
    return None, None
  stages = config.stages
  hits = [s for s in stages if s == name or stages[s].get("stage") == name]
  listed = ", ".join(f"{s} ({stages[s].get('stage')})" for s in stages)
  return (hits[0] if hits else None,
          f"a pipeline's stages are config.stages.<name>: {listed}")


def field_error(config, path: str) -> str | None:
  """Why `config.<path>` names no field (None when it does or can't tell)."""
  node, seen = config, "config"
  for part in path.split("."):
    name, _, index = part.partition("[")
    if isinstance(node, (bool, int, float, str, type(None))):
      return f"{seen}={node!r} has no field {name!r}"
    if not hasattr(node, "keys"):
      return None  # lists, tuples, dataclasses: left to ml_collections
    keys = [str(k) for k in node.keys()]
    if name not in keys:
      close = difflib.get_close_matches(name, keys, n=1, cutoff=0.6)
      hit, stages = (_stage_hint(node, name) if seen == "config"
                     else (None, None))
      if close:
        hint = f"did you mean {close[0]!r}?"
      elif hit:
        hint = f"did you mean config.stages.{hit}? {stages}"
      else:
        hint = f"fields: {', '.join(sorted(keys))}" + (
            f"; {stages}" if stages else "")
      return f"{seen}.{name}: no such field; {hint}"
    node, seen = node[name], f"{seen}.{name}"
    if index:
      return None
  return None


def _last_line(message: str) -> str:
  """The last non-empty line, without a leading `SomeError: `."""
  lines = [l.strip() for l in str(message).splitlines() if l.strip()]
  line = lines[-1] if lines else str(message)
  return re.sub(r"^\w+(Error|Exception): ", "", line)


def _load_config(path: str):
  """The config --config=path names, without its overrides."""
  config = flags.FLAGS["config"].parser.parse(path)
  config.keys()  # a file that failed to load raises OSError on access
  return config


def _diagnose(argv, error: BaseException) -> str:
  """One line saying what on the command line failed to parse."""
  try:
    argv = flags.FLAGS.read_flags_from_files(argv, force_gnu=False)[1:]
  except flags.Error:  # an unreadable --flagfile: that is the error
    return _last_line(error)
  path = _config_arg(argv)
  if path:
    try:
      config = _load_config(path)
    except (TypeError, ValueError, OSError) as e:
      return f"--config={path}: {_last_line(e)}"
    for field in _overrides(argv):
      why = field_error(config, field)
      if why:
        return why
  if isinstance(error, KeyError) and error.args:
    error = error.args[0]  # KeyError's str() is the repr of its argument
  return _last_line(error)


def parse_flags(argv):
  """absl's flag parsing; a bad flag or config field exits with one line."""
  try:
    # A config file may import modules that import TensorFlow.
    with _quiet_native_stderr():
      return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError,
          OSError) as e:
    usage_error(_diagnose(argv, e))


@contextlib.contextmanager
def _quiet_native_stderr():
  """Drops _NATIVE_NOISE lines written to fd 2 inside; replays the rest."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as tmp:
    os.dup2(tmp.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      tmp.seek(0)
      text = tmp.read().decode("utf-8", errors="replace")
      sys.stderr.write("".join(
          l for l in text.splitlines(keepends=True)
          if not any(n in l for n in _NATIVE_NOISE)))
      sys.stderr.flush()


def stage_module(stage: str):
  """The module that runs `stage` (imported without TF's start-up lines)."""
  if stage not in STAGES:
    usage_error(f"config.stage={stage!r}; known: {stages.names()}")
  with _quiet_native_stderr():
    return stages.module(stage)


def main(argv):
  if len(argv) > 1:
    usage_error(f"unexpected arguments {argv[1:]} (flags are --name=value)")
  config = _CONFIG.value
  try:
    stage = config.stage
  except OSError as e:  # the config file failed to load
    usage_error(f"--config: {_last_line(e)}")
  if _DISTRIBUTED.value:
    import jax  # pylint: disable=g-import-not-at-top
    jax.distributed.initialize()
  module = stage_module(stage)
  try:
    module.validate(config)
  except ValueError as e:
    usage_error(e)
  from r1jax import runinfo  # pylint: disable=g-import-not-at-top
  try:
    module.run(config, _WORKDIR.value)
  except runinfo.RunMismatchError as e:  # several lines: fields, ways out
    sys.stderr.write(f"error: {e}\n")
    sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
