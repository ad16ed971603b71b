"""Checkpoints, preemption, and model hand-off (from/to Hugging Face).

On-disk layout of a workdir (metrics.py adds its files beside these):

  workdir/model_config.json          ModelConfig as JSON (save_model_config)
  workdir/checkpoints/<step>/state/  orbax pytree: params, optimizer state,
                                     step, RNG key data, reference params...
  workdir/checkpoints/<step>/extra/  JSON dict: data position and the like

`state` is any pytree of arrays. `init_from` reads back only its top-level
`params` entry (dict key or attribute), so trainers keep the policy there.
Every process of a multi-process run calls the same methods; orbax decides
who writes what.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.models import hf
from r1jax.models.transformer import ModelConfig, init_params

CHECKPOINTS = "checkpoints"
MODEL_CONFIG = "model_config.json"


def checkpoints_dir(workdir: str) -> str:
  """Where a workdir keeps its step directories."""
  return os.path.join(workdir, CHECKPOINTS)


def _json_default(x):
  # Data positions often arrive as numpy or 0-d jax integers.
  if isinstance(x, (np.generic, np.ndarray, jax.Array)):
    return np.asarray(x).tolist()
  raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def _as_abstract(x):
  """Restore template leaf: arrays become ShapeDtypeStruct with sharding."""
  if isinstance(x, jax.Array):
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
  return x


def _savable(x):
  # With several processes orbax only writes global arrays. An array on one
  # process's devices (an eager `jnp` scalar, optax's count) holds the same
  # value everywhere; save the primary process's copy as numpy. Restoring
  # still places it into the template's sharding.
  if isinstance(x, jax.Array) and x.is_fully_addressable:
    return np.asarray(x)
  return x


def _pytree_restore(target, **kw) -> ocp.args.PyTreeRestore:
  # PyTree (not Standard) handlers throughout: one manager can then also
  # restore a part of the state (restore_params).
  return ocp.args.PyTreeRestore(
      target, ocp.checkpoint_utils.construct_restore_args(target), **kw)


class Checkpointer:
  """Keeps the last `keep` checkpoints of (state, extra) in `directory`.

  Saves are asynchronous by default: `save` returns once the arrays are
  copied off the devices, and the files are written in the background.
  """

  def __init__(self, directory: str, *, keep: int = 3,
               async_save: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.LatestN(n=keep),
        enable_async_checkpointing=async_save,
        # A save cut short by preemption leaves a tmp directory; free it.
        cleanup_tmp_directories=True, create=True)
    self._mngr = ocp.CheckpointManager(self.directory, options=options,
                                       item_names=("state", "extra"))

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._mngr.all_steps())

  def save(self, step: int, state: Any, extra: dict | None = None, *,
           force: bool = False) -> bool:
    """Writes `step`; False if it already exists (unless `force` replaces it).

    The caller decides when to save: every call writes (orbax's own save
    interval is bypassed).
    """
    step = int(step)
    if step in self._mngr.all_steps():
      if not force:
        logging.info("checkpoint %d already exists in %s; not saved", step,
                     self.directory)
        return False
      self._mngr.wait_until_finished()
      self._mngr.delete(step)
    extra = json.loads(json.dumps(extra or {}, default=_json_default))
    if jax.process_count() > 1:
      state = jax.tree.map(_savable, state)
    return self._mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeSave(state), extra=ocp.args.JsonSave(extra)),
                           force=True)

  def restore(self, abstract_state: Any,
              step: int | None = None) -> tuple[Any, dict]:
    """(state, extra) of `step` (default: the latest).

    `abstract_state` is a pytree of jax.ShapeDtypeStruct with `.sharding`
    (or of arrays); every array is read straight into its sharding.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    target = jax.tree.map(_as_abstract, abstract_state)
    out = self._mngr.restore(step, args=ocp.args.Composite(
        state=_pytree_restore(target), extra=ocp.args.JsonRestore()))
    return out.state, out.extra

  def restore_params(self, abstract_params: Any, step: int | None = None,
                     path: tuple[str, ...] = ("params",)) -> Any:
    """Only the params subtree of a checkpoint's state, at `path`
    (`state["params"]`; the trainers save `state["train"]["params"]`)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    target = jax.tree.map(_as_abstract, abstract_params)
    for key in reversed(path):
      target = {key: target}
    out = self._mngr.restore(step, args=ocp.args.Composite(
        state=_pytree_restore(target, partial_restore=True)))
    params = out.state
    for key in path:
      params = params[key]
    leaf = jax.tree.leaves(params)[0]
    if isinstance(leaf, jax.ShapeDtypeStruct):
      raise ValueError(f"{self.directory}: step {step} has no "
                       f"{'/'.join(path)} subtree")
    return params

  def wait(self) -> None:
    """Blocks until every pending save is on disk."""
    self._mngr.wait_until_finished()

  def close(self) -> None:
    self._mngr.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


# What this process's guards saw since `take_interrupt()` last read it:
# whether a signal arrived, and whether a run stopped for one (saved and
# returned before its last step). A caller that runs stages one after
# another (trainers/pipeline.py) reads it after each: a run that returns
# normally may have stopped early.
_INTERRUPT = {"signalled": False, "stopped": False}


def take_interrupt() -> tuple[bool, bool]:
  """(stopped, signalled) since the last call, the same on every process
  (a collective with several: every process calls it); clears both."""
  out = (_INTERRUPT["stopped"], _INTERRUPT["signalled"])
  _INTERRUPT.update(signalled=False, stopped=False)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    flags = multihost_utils.process_allgather(np.asarray(out, np.int32))
    out = tuple(bool(v) for v in np.asarray(flags).reshape(-1, 2).any(0))
  return out


def exit_if_interrupted(what: str) -> None:
  """For scripts that run stages one after another: SystemExit when a
  signal reached a run since the last `take_interrupt` (its progress is
  saved; the next stage would start from an unfinished model)."""
  if take_interrupt()[1]:
    raise SystemExit(f"{what}: interrupted by a signal; its progress is "
                     "saved: rerun the same command to go on")


class PreemptionGuard:
  """Turns SIGTERM and SIGINT (Ctrl-C) into a flag that the train loop polls
  (main thread only).

    with PreemptionGuard() as guard:
      for step in ...:
        ...
        if guard.stop_requested(step):
          ckpt.save(step, state, extra); break

  A second SIGINT raises KeyboardInterrupt at once (abort without saving).
  With several processes only some may get the signal, so the flags are
  combined (a tiny allgather, a device sync, that every process joins) every
  `sync_every` steps and every process gets the same answer; `poll` agrees
  on one more flag (a save timer) in the same collective.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, sync_every: int = 1):
    self.sync_every = sync_every
    self.requested = False
    # Name of the first signal this process got ("SIGINT"), or None.
    self.signal_name: str | None = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    name = signal.Signals(signum).name
    if signum == signal.SIGINT and self.requested:
      raise KeyboardInterrupt(f"second {name}: aborting without a checkpoint")
    _INTERRUPT["signalled"] = True
    if not self.requested:
      self.signal_name = name
      logging.warning("%s received: stopping after a checkpoint%s", name,
                      "; press Ctrl-C again to abort without one"
                      if signum == signal.SIGINT else "")
    self.requested = True

  def __enter__(self) -> "PreemptionGuard":
    for sig in self.SIGNALS:
      # A SIGINT that was ignored (a job started with `nohup ... &`) stays so.
      if signal.getsignal(sig) is not signal.SIG_IGN:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, previous in self._previous.items():
      # None means the previous handler was not installed from Python.
      signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
    self._previous = {}

  def poll(self, step: int, due: bool = False) -> tuple[bool, bool]:
    """(stop, due): whether to save and exit now, and whether any process
    has `due` set; the same on every process (every process must call it
    at the same steps)."""
    if jax.process_count() == 1:
      stop = self.requested
    elif step % self.sync_every:
      return False, False
    else:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      flags = multihost_utils.process_allgather(
          np.asarray([self.requested, due], np.int32))
      stop, due = np.any(np.asarray(flags).reshape(-1, 2), axis=0)
    _INTERRUPT["stopped"] |= bool(stop)
    return bool(stop), bool(due)

  def stop_requested(self, step: int) -> bool:
    """Whether to save and exit now; the same on every process."""
    return self.poll(step)[0]


# --- Model config and init ---------------------------------------------------
def _is_dtype(value) -> bool:
  try:
    return isinstance(value, (type, np.dtype)) and bool(jnp.dtype(value))
  except TypeError:
    return False


def save_model_config(directory: str, cfg: ModelConfig) -> None:
  """Writes directory/model_config.json (dtypes by name); chief only."""
  fields = {}
  for f in dataclasses.fields(cfg):
    value = getattr(cfg, f.name)
    fields[f.name] = jnp.dtype(value).name if _is_dtype(value) else value
  if jax.process_index() != 0:
    return
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, MODEL_CONFIG)
  with open(path + ".tmp", "w") as f:
    json.dump(fields, f, indent=2)
  os.replace(path + ".tmp", path)


def _tuples(x):
  return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def load_model_config(directory: str) -> ModelConfig:
  """The ModelConfig that save_model_config wrote into `directory`."""
  path = os.path.join(directory, MODEL_CONFIG)
  with open(path) as f:
    raw = json.load(f)
  known = {f.name: f for f in dataclasses.fields(ModelConfig)}
  unknown = sorted(set(raw) - set(known))
  if unknown:
    raise ValueError(f"{path}: unknown ModelConfig fields {unknown}")
  kw = {}
  for name, value in raw.items():
    if name.endswith("dtype") and isinstance(value, str):
      # jnp.float32 etc., as presets write them, so configs compare equal.
      value = getattr(jnp, value, None) or jnp.dtype(value)
    kw[name] = _tuples(value)
  return ModelConfig(**kw)


def _read_json(path: str) -> dict:
  try:
    with open(path) as f:
      out = json.load(f)
    return out if isinstance(out, dict) else {}
  except (OSError, ValueError):
    return {}


def model_source(path: str) -> str:
  """'workdir' (an r1jax workdir) or 'hf' (a Hugging Face model directory)
  for `init_from`; a ValueError that says which of the two `path` looks
  like and what it lacks."""
  if not os.path.isdir(path):
    why = "not a directory" if os.path.exists(path) else "not found"
    raise ValueError(f"{path}: {why} (a Hugging Face model directory or an "
                     "r1jax workdir)")
  has = lambda name: os.path.exists(os.path.join(path, name))  # noqa: E731
  config = _read_json(os.path.join(path, "config.json"))
  if has(CHECKPOINTS) or has(MODEL_CONFIG) or "stage" in config:
    signs = [n for n in ("config.json", f"{CHECKPOINTS}/", MODEL_CONFIG)
             if has(n.rstrip("/"))]
    what = (f"{path} looks like an r1jax workdir ({' + '.join(signs)}"
            + (f", stage {config['stage']!r}" if "stage" in config else "")
            + ")")
    if not has(MODEL_CONFIG):
      raise ValueError(f"{what} but has no {MODEL_CONFIG}: it holds no "
                       "trained model (the stages that train write it: sft, "
                       "pretrain, grpo)" + _model_subdirs(path))
    if not has(CHECKPOINTS) or not any(
        n.isdigit() for n in os.listdir(checkpoints_dir(path))):
      raise ValueError(f"{what} but has no checkpoint in {CHECKPOINTS}/: "
                       "the run saved none yet (rerun it to resume, or "
                       "point at a finished run)")
    return "workdir"
  weights = has("model.safetensors") or has("model.safetensors.index.json")
  if config or weights:
    what = f"{path} looks like a Hugging Face model directory"
    if not config:
      raise ValueError(f"{what} (safetensors) but has no config.json: an HF "
                       "directory needs config.json and model.safetensors")
    if not weights:
      raise ValueError(f"{what} (config.json) but has no model.safetensors "
                       "(or model.safetensors.index.json): an HF directory "
                       "needs config.json and model.safetensors (.bin "
                       "weights are not read)")
    return "hf"
  raise ValueError(f"{path}: neither a Hugging Face model directory "
                   "(config.json + model.safetensors) nor an r1jax workdir "
                   f"(config.json + {CHECKPOINTS}/ + {MODEL_CONFIG})"
                   + _model_subdirs(path))


def _model_subdirs(path: str) -> str:
  """'; these subdirectories hold a model: a/, b/' or ''."""
  inner = sorted(n + "/" for n in os.listdir(path) if any(
      os.path.isfile(os.path.join(path, n, f))
      for f in (MODEL_CONFIG, "model.safetensors",
                "model.safetensors.index.json")))
  return (f"; these subdirectories hold a model: {', '.join(inner)}"
          if inner else "")


def init_from(path: str, *, mesh=None, rules=shd.DEFAULT_RULES,
              **overrides) -> tuple[ModelConfig, Any]:
  """(cfg, params) from a HF model dir or an r1jax workdir's last checkpoint.

  Params go straight into their shardings on `mesh` (default: one device).
  `overrides` replace ModelConfig fields (e.g. param_dtype, remat).
  """
  if model_source(path) == "hf":
    return hf.load(path, mesh=mesh, rules=rules, **overrides)
  ckpt_dir = checkpoints_dir(path)
  cfg = load_model_config(path).replace(**overrides)
  mesh = mesh or shd.make_mesh((1, 1, 1), jax.devices()[:1])
  shapes, axes = shd.abstract_params(lambda r: init_params(cfg, r),
                                     jax.random.key(0))
  shardings = shd.shardings_for(shapes, axes, mesh, rules)
  abstract = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
      shapes, shardings)
  ckpt = Checkpointer(ckpt_dir, async_save=False)
  try:
    if ckpt.latest_step() is None:
      raise ValueError(f"{path}: workdir has no checkpoint in {ckpt_dir}")
    # Trainer workdirs nest the train state under "train".
    try:
      params = ckpt.restore_params(abstract, path=("train", "params"))
    except (ValueError, KeyError):
      params = ckpt.restore_params(abstract)
  finally:
    ckpt.close()
  return cfg, params


def export_hf(directory: str, cfg: ModelConfig, params,
              dtype: str = "float32", tokenizer=None) -> None:
  """Writes params as a HF model dir (config.json + safetensors), and the
  tokenizer's files when given (a `tokenizers.Tokenizer`, or a workdir or
  file it loads from): an `init_from` source that transformers loads too.

  A SentencePiece tokenizer is saved as tokenizer.model + a
  tokenizer_config.json naming PreTrainedTokenizerFast, which transformers
  >= 5 builds faithfully; AutoTokenizer does so for llama exports, but
  transformers 5 maps model_type qwen2 to Qwen2Tokenizer (byte-level BPE)
  whatever the files say, so load such an export's tokenizer with
  `transformers.PreTrainedTokenizerFast.from_pretrained(directory)`.

  Multi-host: every process must call it (it gathers sharded params);
  process 0 writes the files."""
  hf.save(directory, cfg, params, dtype=dtype)
  if tokenizer is None or jax.process_index() != 0:
    return
  if isinstance(tokenizer, str):
    try:
      tokenizer = tok_lib.load(tokenizer)
    except FileNotFoundError as e:
      logging.warning("export_hf: %s; %s has no tokenizer", e, directory)
      return
  tokenizer.save(directory)
  model_type = hf.config_to_hf(cfg).get("model_type")
  if isinstance(tokenizer, tok_lib.SentencePieceTokenizer) and \
      model_type == "qwen2":
    logging.warning(
        "%s: transformers' AutoTokenizer loads model_type qwen2 as "
        "Qwen2Tokenizer, which does not read this SentencePiece tokenizer "
        "right; use transformers.PreTrainedTokenizerFast.from_pretrained",
        directory)
