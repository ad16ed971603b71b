r"""Bytes per device of a reward model next to the policy, without weights.

  python experiments/benchmarks/rm_memory.py [--rows 64 --tokens 4096]

For each preset (policy and RM share the architecture, bfloat16 params and
compute) and each mesh (data, fsdp, tensor), with r1jax's default logical
rules (params FSDP over `embed`, activations batch-parallel over data x fsdp):

* policy + AdamW: the policy's bf16 params plus two float32 AdamW moments;
* reference: the frozen bf16 reference params (the KL term);
* RM params: the frozen bf16 reward model (no lm_head, a [D] score head);
* RM forward temps: XLA's temporary buffers of the compiled RM forward
  (`reward.scores`) on `--rows` rows x `--tokens` tokens, batch-sharded;
* chunked: the same rows scored `--rows_per_call` rows per batch device
  per call (`reward.scores(..., chunks=...)`, one call after the other);
* RM share: (RM params + RM forward temps) / the sum of the four columns
  before it (policy + AdamW, reference, RM params, RM forward temps), in
  one call and chunked.

Param bytes are NamedSharding shard shapes of `jax.eval_shape` trees; the
temporaries come from `jax.jit(...).lower(abstract args).compile()
.memory_analysis()` on simulated CPU devices. Nothing is allocated, so an 8B
model "runs" on a laptop. Activations of the policy update and the
sampler's KV cache are not counted. The forward materialises each layer's
[rows, heads, tokens, tokens] attention scores (no flash attention), which
dominates the temporaries at 4096 tokens: shard the rows over more devices,
or score fewer rows per call (`chunks`).

XLA:CPU computes bf16 matmuls in float32 and keeps float32 copies of the
stacked weights, which it counts as temporaries (about 2x the bf16 params
per device); GPU and TPU do not. For the accelerator's own numbers of a
one-device mesh, on a GPU:

  JAX_PLATFORMS=cuda XLA_FLAGS=--xla_gpu_autotune_level=0 \
      python experiments/benchmarks/rm_memory.py --meshes 1,1,1

(autotuning would allocate the huge attention buffers to time kernels).
"""

import argparse
import os
import sys

_MAX_DEVICES = 64
# Simulated devices must be requested before JAX is imported.
os.environ["XLA_FLAGS"] = " ".join(
    [f for f in os.environ.get("XLA_FLAGS", "").split()
     if "xla_force_host_platform_device_count" not in f]
    + [f"--xla_force_host_platform_device_count={_MAX_DEVICES}"])
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# pylint: disable=g-import-not-at-top,wrong-import-position
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from r1jax import sharding as shd
from r1jax.models import init_params, presets, reward
# pylint: enable=g-import-not-at-top,wrong-import-position

PRESETS = ("qwen2.5-1.5b", "qwen2.5-7b", "llama-3.1-8b")
MESHES = ((1, 1, 1), (1, 8, 1), (1, 16, 1), (1, 64, 1))
GiB = 1 << 30


def shard_bytes(shapes, axes, mesh, dtype=None) -> int:
  """Bytes one device holds of a tree of shapes (all devices hold equal
  shards: axes that do not divide are left unsharded by spec_for)."""
  shardings = shd.shardings_for(shapes, axes, mesh, shd.DEFAULT_RULES)
  total = 0
  for s, sh in zip(jax.tree.leaves(shapes), jax.tree.leaves(shardings)):
    itemsize = np.dtype(dtype or s.dtype).itemsize
    total += int(np.prod(sh.shard_shape(s.shape))) * itemsize
  return total


def rm_forward_temps(cfg, shapes, axes, mesh, rows: int, tokens: int,
                     chunks: int = 1) -> int:
  """Temporary bytes per device of the compiled RM forward."""
  shardings = shd.shardings_for(shapes, axes, mesh, shd.DEFAULT_RULES)
  params = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
      shapes, shardings)
  batch = jax.sharding.NamedSharding(mesh, shd.spec_for(
      (rows, tokens), ("act_batch", "act_len"), shd.DEFAULT_RULES, mesh))
  ids = jax.ShapeDtypeStruct((rows, tokens), jnp.int32, sharding=batch)

  def f(p, tokens_BxS, segment_ids_BxS):
    return reward.scores(p, cfg, tokens_BxS, segment_ids_BxS, chunks=chunks)

  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    compiled = jax.jit(f).lower(params, ids, ids).compile()
  return int(compiled.memory_analysis().temp_size_in_bytes)


def row(name: str, mesh_shape, rows: int, tokens: int,
        rows_per_call: int) -> list[str]:
  cfg = presets.get(name, param_dtype=jnp.bfloat16, dtype=jnp.bfloat16)
  n = int(np.prod(mesh_shape))
  mesh = shd.make_mesh(mesh_shape, jax.devices()[:n])
  key = jax.random.key(0)
  pol_shapes, pol_axes = shd.abstract_params(
      lambda r: init_params(cfg, r), key)
  rm_shapes, rm_axes = shd.abstract_params(
      lambda r: reward.init_params(cfg, r), key)
  policy = shard_bytes(pol_shapes, pol_axes, mesh)
  adam = 2 * shard_bytes(pol_shapes, pol_axes, mesh, np.float32)
  ref = policy
  rm = shard_bytes(rm_shapes, rm_axes, mesh)
  temps = rm_forward_temps(cfg, rm_shapes, rm_axes, mesh, rows, tokens)
  batch_devices = mesh_shape[0] * mesh_shape[1]
  chunks = max(1, rows // (batch_devices * rows_per_call))
  while rows % chunks:  # scores() needs chunks that divide the rows
    chunks -= 1
  chunked = (temps if chunks == 1 else rm_forward_temps(
      cfg, rm_shapes, rm_axes, mesh, rows, tokens, chunks))
  fixed = policy + adam + ref + rm

  def gib(b):
    return f"{b / GiB:.2f}"

  def share(t):
    return f"{(rm + t) / (fixed + t):.0%}"

  return [name, str(tuple(mesh_shape)), gib(policy + adam), gib(ref),
          gib(rm), gib(temps), share(temps), f"{chunks}", gib(chunked),
          share(chunked)]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--presets", nargs="+", default=list(PRESETS),
                      help=f"model presets (default: {' '.join(PRESETS)})")
  parser.add_argument("--meshes", nargs="+", default=None,
                      help="meshes as data,fsdp,tensor (default: 1,1,1 "
                      "1,8,1 1,16,1 1,64,1)")
  parser.add_argument("--rows", type=int, default=64,
                      help="rows per RM forward (default 64)")
  parser.add_argument("--tokens", type=int, default=4096,
                      help="tokens per row (default 4096)")
  parser.add_argument("--rows_per_call", type=int, default=1,
                      help="chunked: rows per batch device per RM call "
                      "(default 1)")
  args = parser.parse_args(argv)
  meshes = ([tuple(int(x) for x in m.split(",")) for m in args.meshes]
            if args.meshes else MESHES)
  for m in meshes:
    if len(m) != 3 or np.prod(m) > _MAX_DEVICES:
      sys.exit(f"--meshes: {m} is not data,fsdp,tensor with at most "
               f"{_MAX_DEVICES} devices")
  print(f"GiB per device; bf16 params; RM forward on {args.rows} rows x "
        f"{args.tokens} tokens; chunked: {args.rows_per_call} row(s) per "
        "batch device per call.\n")
  print("| preset | mesh | policy + AdamW | reference | RM params "
        "| RM forward temps | RM share | chunks | chunked temps "
        "| chunked RM share |")
  print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |")
  for name in args.presets:
    for m in meshes:
      cells = row(name, m, args.rows, args.tokens, args.rows_per_call)
      print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
  main()
