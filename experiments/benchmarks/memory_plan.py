r"""Per-device memory of the RL learner, the sampler and the SFT step.

  python experiments/benchmarks/memory_plan.py [--presets qwen2.5-7b \
      --lengths 32768 --devices 64 --programs learner --top_buffers 10]
  python experiments/benchmarks/memory_plan.py --quick   # tiny, seconds

Each program is compiled ahead of time for a preset on simulated CPU
devices, mesh ('data', 'fsdp', 'tensor') = (1, N, 1), from abstract
arguments (`jax.ShapeDtypeStruct`s with shardings): no weight is allocated.
The numbers are the compiled program's `memory_analysis()`, GiB per device:

* learner: `grpo_step.make_learn` (R1-Zero's update: GRPO, beta 0.001 so
  the reference params are in `frozen`, AdamW), the state donated as in
  the trainer; P = N / G prompts (at least 1) x G rows, in micro-batches
  of one row per device;
* sampler: `grpo_step.make_rollout` (`sampler.sample`: prefill, then the
  decode loop over a bf16 KV cache of T + M slots), the same P x G rows;
* sft: `sft.make_sft_step` on N rows (one per device) of T + M tokens.

Columns: args (params, optimizer state, inputs), out, alias (outputs
written into donated arguments), temp (XLA's temporaries), total = args +
out - alias + temp, and peak = total + what stays on the device without
being an argument (the sampler: AdamW moments and the reference, as in
the trainer's two-program step). A program fits a budget when its peak
does; programs whose state alone exceeds the largest budget are not
compiled. AdamW moments are sharded like the params (`--moments`).

Caveat: XLA:CPU's buffer assignment approximates an accelerator's: it
computes bf16 dots in float32 and keeps float32 copies of some bf16
buffers (weights, the remat residual stack) as temporaries, and GPU/TPU
compilers fuse and schedule differently. A plan, not a measurement. One
compile takes from seconds (tiny) to minutes (the 7B sampler).

The LAST line: the largest preset and M's learner peak on its largest mesh.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import time

DEFAULTS = dict(presets="qwen2.5-1.5b,qwen2.5-7b", lengths="4096,16384,32768",
                devices="1,8,64", programs="learner,sampler,sft",
                budget_gib="80,95")
QUICK = dict(presets="tiny", lengths="128,512", devices="2,4",
             programs="learner,sampler,sft", group=4, prompt_len=32,
             attention_chunk=64, logits_chunk=64)


def _ints(s: str) -> list[int]:
  return [int(x) for x in s.split(",") if x]


def _set_device_flags(argv) -> None:
  """Asks XLA for as many simulated CPU devices as --devices needs; must run
  before JAX is imported (other XLA_FLAGS are kept)."""
  ap = argparse.ArgumentParser(add_help=False)
  ap.add_argument("--devices", default=None)
  ap.add_argument("--quick", action="store_true")
  a, _ = ap.parse_known_args(argv)
  try:
    n = max(_ints(a.devices or (QUICK if a.quick else DEFAULTS)["devices"]))
  except ValueError:
    return  # argparse reports the bad value later
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if "xla_force_host_platform_device_count" not in f]
  flags.append(f"--xla_force_host_platform_device_count={n}")
  os.environ["XLA_FLAGS"] = " ".join(flags)
  os.environ.setdefault("JAX_PLATFORMS", "cpu")


if __name__ == "__main__":
  _set_device_flags(sys.argv[1:])

# pylint: disable=g-import-not-at-top,wrong-import-position
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from r1jax import configlib
from r1jax import sharding as shd
from r1jax.losses import grpo as grpo_loss
from r1jax.models import init_params, presets
from r1jax.models.transformer import ModelConfig
from r1jax.sampling import Sampling
from r1jax.trainers import common, grpo_step, sft
from r1jax.trainers import train_state as state_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

GiB = 1 << 30
PROGRAMS = ("learner", "sampler", "sft")
# ModelConfig fields of the attention / log-prob implementations (issue 16);
# set only when this checkout's ModelConfig has them.
KERNEL_FIELDS = ("attention", "attention_chunk", "logits_chunk")


@dataclasses.dataclass(frozen=True)
class Case:
  """One compiled program's shape: preset, mesh size, lengths, numerics."""
  preset: str
  devices: int  # N, the FSDP mesh (1, N, 1)
  new_tokens: int  # M
  prompt_len: int = 1024  # T
  group: int = 16  # G
  rows_per_device: int = 1  # rollout rows per device: P = N * this / G
  param_dtype: str = "float32"
  remat: str = "full"
  kernel: tuple = ()  # ((field, value), ...) for ModelConfig.replace
  moments: str = "sharded"  # AdamW moments: sharded like params | replicated


@dataclasses.dataclass
class Memory:
  """Bytes per device of one compiled program."""
  program: str
  args: int
  out: int
  alias: int
  temp: int
  resident: int = 0  # resident state the program does not take as argument
  seconds: float = 0.0  # compile time
  largest: tuple = ()  # ((bytes, "dtype[shape] op"), ...) when asked
  skipped: bool = False  # not compiled: its state alone is over budget

  @property
  def total(self) -> int:
    return self.args + self.out - self.alias + self.temp

  @property
  def peak(self) -> int:
    return self.total + self.resident


def kernel_fields(attention: str, attention_chunk: int,
                  logits_chunk: int) -> tuple[tuple, list[str]]:
  """(fields this checkout's ModelConfig accepts, names it lacks)."""
  have = {f.name for f in dataclasses.fields(ModelConfig)}
  want = dict(zip(KERNEL_FIELDS, (attention, attention_chunk, logits_chunk)))
  want = {k: v for k, v in want.items() if v is not None}
  return (tuple((k, v) for k, v in want.items() if k in have),
          [k for k in want if k not in have])


def model_config(case: Case) -> ModelConfig:
  cfg = presets.get(case.preset, dtype=jnp.bfloat16,
                    param_dtype=common.DTYPES[case.param_dtype],
                    remat=case.remat, **dict(case.kernel))
  # RoPE has no position table: max_seq_len only bounds trainer configs.
  return cfg.replace(max_seq_len=max(cfg.max_seq_len,
                                     case.prompt_len + case.new_tokens))


def _mesh(n: int):
  if n > len(jax.devices()):
    raise ValueError(f"--devices {n} needs {n} devices, {len(jax.devices())}"
                     " available (set before JAX is imported)")
  return shd.make_mesh((1, n, 1), jax.devices()[:n])


def _rows(mesh, rules, shape, dtype):
  """An abstract array sharded over its first (batch) axis."""
  names = ("act_batch",) + (None,) * (len(shape) - 1)
  sh = NamedSharding(mesh, shd.spec_for(shape, names, rules, mesh))
  return jax.ShapeDtypeStruct(shape, dtype, sharding=sh)


def _opt_state(tx, params, mesh, sharded: bool):
  """Abstract AdamW state: moments sharded like their params, as
  state_lib.init_state builds them, or (sharded False) replicated on every
  device."""
  shardings = state_lib.opt_state_shardings(tx, params) if sharded else \
      jax.tree.map(lambda _: NamedSharding(mesh, PartitionSpec()),
                   jax.eval_shape(tx.init, params))
  return jax.tree.map(
      lambda x, sh: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sh),
      jax.eval_shape(tx.init, params), shardings)


def train_state(case: Case):
  """(cfg, mesh, AdamW, abstract sharded train state {params, opt_state,
  step, bad_steps}) of `case`."""
  cfg, mesh = model_config(case), _mesh(case.devices)
  tx, _ = state_lib.make_optimizer(configlib.optim_block(lr=3e-6), 100)
  shapes, axes = shd.abstract_params(lambda r: init_params(cfg, r),
                                     jax.random.key(0))
  params = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
      shapes, shd.shardings_for(shapes, axes, mesh, shd.DEFAULT_RULES))
  rep = NamedSharding(mesh, PartitionSpec())
  opt = _opt_state(tx, params, mesh, case.moments == "sharded")
  scalar = jax.ShapeDtypeStruct((), jnp.int32, sharding=rep)
  return cfg, mesh, tx, {"params": params, "opt_state": opt, "step": scalar,
                         "bad_steps": scalar}


def device_bytes(tree) -> int:
  """Bytes one device holds of a tree of sharded abstract arrays."""
  return sum(int(np.prod(x.sharding.shard_shape(x.shape)))
             * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


_ITEMSIZE = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2,
             "f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8}
_RESULT = re.compile(r"^\s+(?:ROOT )?%?[\w.-]+ = (\w+)\[([\d,]*)\]\S* "
                     r"([\w-]+)")


def largest_buffers(hlo_text: str, k: int) -> list[tuple[int, str]]:
  """The k largest array results of instructions outside fusions in an
  optimized HLO module (per device): (bytes, "dtype[shape] op xcount")."""
  sizes, comp = {}, ""
  for line in hlo_text.splitlines():
    if line and not line[0].isspace():
      comp = line  # a computation's header
      continue
    m = _RESULT.match(line)
    if not m or "fused" in comp.split("(")[0] or m[1] not in _ITEMSIZE:
      continue
    dims = [int(d) for d in m[2].split(",") if d]
    key = f"{m[1]}[{m[2]}] {m[3]}"
    n = int(np.prod(dims)) * _ITEMSIZE[m[1]]
    sizes[key] = (n, sizes.get(key, (0, 0))[1] + 1)
  top = sorted(sizes.items(), key=lambda kv: -kv[1][0])[:k]
  return [(n, f"{key} x{count}") for key, (n, count) in top]


def _memory(program: str, jitted, args, mesh, rules, resident: int = 0,
            top: int = 0) -> Memory:
  t0 = time.perf_counter()
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    compiled = jitted.lower(*args).compile()
  m = compiled.memory_analysis()
  return Memory(program, int(m.argument_size_in_bytes),
                int(m.output_size_in_bytes), int(m.alias_size_in_bytes),
                int(m.temp_size_in_bytes), resident,
                time.perf_counter() - t0,
                tuple(largest_buffers(compiled.as_text(), top)))


def rl_spec(case: Case, cfg: ModelConfig) -> grpo_step.RLSpec:
  """R1-Zero's step [R1v2 2.1]: GRPO, beta 0.001, T 1.0, one update per
  rollout; one row per device per micro-batch."""
  b = num_prompts(case) * case.group
  if b % case.devices:
    raise ValueError(f"--group={case.group} x {num_prompts(case)} prompts "
                     f"= {b} rows do not divide over --devices "
                     f"{case.devices}: every device would hold all rows")
  return grpo_step.RLSpec(
      cfg=cfg, num_prompts=num_prompts(case), group=case.group,
      max_new_tokens=case.new_tokens, sampling=Sampling(temperature=1.0),
      stop_ids=(1,), pad_id=0, loss=grpo_loss.make_config("grpo",
                                                          beta=0.001),
      microbatches=max(1, b // case.devices),
      cache_dtype=jnp.bfloat16)


def num_prompts(case: Case) -> int:
  return max(1, case.devices * case.rows_per_device // case.group)


def plan(case: Case, programs=PROGRAMS, top: int = 0,
         skip_over: float = float("inf")) -> list[Memory]:
  """Compiles each program of `case` and returns its per-device memory
  (with its `top` largest buffers); a program whose resident state alone
  is over `skip_over` bytes is not compiled (`Memory.skipped`)."""
  cfg, mesh, tx, state = train_state(case)
  rules = shd.DEFAULT_RULES
  spec = rl_spec(case, cfg)
  p, t, m = spec.num_prompts, case.prompt_len, case.new_tokens
  rep = NamedSharding(mesh, PartitionSpec())
  key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=rep)
  prompts = _rows(mesh, rules, (p, t), jnp.int32)
  frozen = {"ref": state["params"], "teacher": None}
  rows = lambda *s: _rows(mesh, rules, s, jnp.int32)  # noqa: E731
  out = []
  for name in programs:
    fixed = device_bytes((state, frozen) if name != "sft" else state)
    if fixed > skip_over:
      out.append(Memory(name, fixed, 0, 0, 0, skipped=True))
    elif name == "learner":
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        comp = jax.eval_shape(grpo_step.make_rollout(spec), state["params"],
                              prompts, prompts, key)
      comp = jax.tree.map(lambda x: _rows(mesh, rules, x.shape, x.dtype),
                          comp)
      rewards = _rows(mesh, rules, (p * case.group,), jnp.float32)
      learn = jax.jit(grpo_step.make_learn(spec, tx), donate_argnums=(0,))
      out.append(_memory(name, learn, (state, frozen, prompts, prompts,
                                       comp, rewards, key), mesh, rules,
                         top=top))
    elif name == "sampler":  # the optimizer state and reference stay
      rollout = jax.jit(grpo_step.make_rollout(spec))
      resident = device_bytes((state["opt_state"], frozen))
      out.append(_memory(name, rollout, (state["params"], prompts, prompts,
                                         key), mesh, rules, resident, top))
    elif name == "sft":
      batch = {k: rows(case.devices, t + m) for k in sft.KEYS}
      step = jax.jit(sft.make_sft_step(cfg, tx, 1), donate_argnums=(0,))
      out.append(_memory(name, step, (state, batch), mesh, rules, top=top))
    else:
      raise ValueError(f"unknown program {name!r}; allowed: {PROGRAMS}")
  return out


HEADER = ("| preset | M | program | devices | rows/device | args | out "
          "| alias | temp | total | peak | compile s |")


def gib(b: int) -> str:
  """GiB with 2 decimals; 3 significant digits below 0.1 (tiny models)."""
  x = b / GiB
  return f"{x:.2f}" if x >= 0.1 else f"{x:.3g}"


def table_row(case: Case, mem: Memory) -> str:
  b = num_prompts(case) * case.group
  rows = 1 if mem.program != "sampler" else max(1, b // case.devices)
  cells = [case.preset, case.new_tokens, mem.program, case.devices, rows,
           gib(mem.args)]
  if mem.skipped:
    cells += ["state alone over the largest budget: not compiled"] + [""] * 5
  else:
    cells += [gib(x) for x in (mem.out, mem.alias, mem.temp, mem.total,
                               mem.peak)] + [f"{mem.seconds:.0f}"]
  return "| " + " | ".join(str(c) for c in cells) + " |"


def fits(results, budgets) -> list[str]:
  """Per (preset, M, program): the smallest mesh whose peak fits each
  budget, as markdown rows."""
  lines = ["| preset | M | program | " + " | ".join(
      f"smallest mesh <= {b:g} GiB" for b in budgets) + " |",
           "|---|---:|---|" + "---|" * len(budgets)]
  keys = list(dict.fromkeys((c.preset, c.new_tokens, m.program)
                            for c, m in results))
  for k in keys:
    tried = sorted((c.devices, m.peak) for c, m in results
                   if (c.preset, c.new_tokens, m.program) == k)
    cells = []
    for b in budgets:
      ok = [n for n, peak in tried if peak <= b * GiB]
      cells.append(f"(1, {ok[0]}, 1)" if ok else
                   f"none of {','.join(str(n) for n, _ in tried)}")
    lines.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cells) + " |")
  return lines


def verdict(results) -> str:
  """The last line: the largest preset and M's learner on its largest mesh."""
  learn = [(c, m) for c, m in results if m.program == "learner"] or results
  c, m = max(learn, key=lambda x: (presets.get(x[0].preset).num_params(),
                                   x[0].new_tokens, x[0].devices))
  return (f"{c.preset} M={c.new_tokens} G={c.group} {m.program}: "
          f"{gib(m.peak)} GiB/device on {c.devices} devices")


def parse(argv=None):
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  add = ap.add_argument
  add("--quick", action="store_true",
      help="the tiny preset on 2 and 4 devices, M 64 and 256 (seconds)")
  for k, what in (("presets", "model presets"),
                  ("lengths", "completion tokens M"),
                  ("devices", "FSDP mesh sizes N: meshes (1, N, 1)"),
                  ("programs", f"any of {','.join(PROGRAMS)}")):
    add(f"--{k}", default=None, help=f"{what} (default: {DEFAULTS[k]})")
  add("--budget_gib", default=DEFAULTS["budget_gib"],
      help="per-device budgets: 80 = one 80 GB GPU, 95 = a TPU v5p chip "
      "(default: %(default)s)")
  add("--prompt_len", type=int, default=None,
      help="prompt tokens T (default: 1024)")
  add("--group", type=int, default=None,
      help="samples per prompt G (default: 16)")
  add("--rows_per_device", type=int, default=1,
      help="rollout rows per device (default: %(default)s)")
  add("--param_dtype", default="float32", choices=("float32", "bfloat16"),
      help="params and AdamW moments (default: %(default)s)")
  add("--moments", default="sharded", choices=("sharded", "replicated"),
      help="AdamW moments sharded like the params, or replicated on every "
      "device (default: %(default)s)")
  add("--remat", default="full",
      help="ModelConfig.remat (default: %(default)s)")
  add("--attention", default="chunked",
      help="ModelConfig.attention (default: %(default)s)")
  add("--attention_chunk", type=int, default=None,
      help="ModelConfig.attention_chunk (default: the model's; 64 with "
      "--quick)")
  add("--logits_chunk", type=int, default=None,
      help="ModelConfig.logits_chunk; 0 = all at once (default: 1024; 64 "
      "with --quick)")
  add("--top_buffers", type=int, default=0,
      help="list each program's K largest buffers (HLO results outside "
      "fusions) (default: %(default)s)")
  a = ap.parse_args(argv)
  base = QUICK if a.quick else DEFAULTS
  for k in ("presets", "lengths", "devices", "programs"):
    setattr(a, k, getattr(a, k) or base[k])
  a.prompt_len = a.prompt_len or base.get("prompt_len", 1024)
  a.group = a.group or base.get("group", 16)
  if a.attention_chunk is None:
    a.attention_chunk = base.get("attention_chunk")
  if a.logits_chunk is None:
    a.logits_chunk = base.get("logits_chunk", 1024)
  bad = set(a.programs.split(",")) - set(PROGRAMS)
  if bad:
    ap.error(f"--programs: unknown {sorted(bad)}; allowed: {PROGRAMS}")
  return a


def run(a) -> tuple[list[tuple[Case, Memory]], list[str]]:
  """Compiles every (preset, M, N) case and prints the tables; returns
  the (case, memory) results and the printed lines."""
  kernel, missing = kernel_fields(a.attention, a.attention_chunk,
                                  a.logits_chunk)
  budgets = [float(b) for b in a.budget_gib.split(",")]
  knobs = ", ".join(f"{k}={v}" for k, v in kernel) or "default kernels"
  lines = [f"GiB per device, XLA memory_analysis on simulated CPU devices "
           f"(an approximation of an accelerator's). Meshes (1, N, 1); "
           f"params {a.param_dtype}, AdamW moments {a.moments}, bf16 "
           f"compute, remat={a.remat}, {knobs}; T={a.prompt_len}, "
           f"G={a.group}; one row per device per micro-batch."]
  if missing:
    lines.append(f"NOTE: this ModelConfig has no field(s) {missing}: "
                 "compiled without them.")
  lines += ["", HEADER, "|---|---:|---|---:|---:" + "|---:" * 7 + "|"]
  print("\n".join(lines), flush=True)
  results, largest = [], []
  for preset in a.presets.split(","):
    for m in _ints(a.lengths):
      for n in _ints(a.devices):
        case = Case(preset, n, m, a.prompt_len, a.group, a.rows_per_device,
                    a.param_dtype, a.remat, kernel, a.moments)
        for mem in plan(case, a.programs.split(","), a.top_buffers,
                        max(budgets) * GiB):
          results.append((case, mem))
          lines.append(table_row(case, mem))
          print(lines[-1], flush=True)
          if mem.largest:
            largest.append(f"{preset} M={m} {mem.program} on {n}:")
            largest += [f"  {gib(b)} GiB {what}" for b, what in mem.largest]
  tail = ["", *fits(results, budgets), "", *largest, verdict(results)]
  print("\n".join(tail), flush=True)
  return results, lines + tail


if __name__ == "__main__":
  run(parse())
