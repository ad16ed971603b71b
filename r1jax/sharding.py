"""Meshes, logical-axis rules and sharded initialisation.

Model code names logical axes only (`embed`, `heads`, `act_batch`, ...). The
rules that map them onto the mesh axes ('data', 'fsdp', 'tensor') are data:
they live in config and are passed here. A logical axis whose mesh axes do not
divide the array dimension is left unsharded (tiny test models, odd vocab
sizes), so the same rules work from 1 CPU device to a pod slice.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

MESH_AXES = ("data", "fsdp", "tensor")

# (logical name, mesh axes). Params: FSDP over `embed`, tensor parallel over
# heads/mlp/vocab (t5x/maxtext convention). Activations and the KV cache are
# batch-parallel over data x fsdp and head-parallel over tensor.
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("act_batch", ("data", "fsdp")),
    ("act_len", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_kv_heads", "tensor"),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("head_dim", None),
    ("vocab", "tensor"),
    ("layers", None),
    ("norm", None),
    ("cache_batch", ("data", "fsdp")),
    ("cache_len", None),
    ("cache_heads", "tensor"),
)


def make_mesh(shape: Sequence[int] = (1, -1, 1),
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ('data', 'fsdp', 'tensor') mesh; one size may be -1 ("the rest")."""
  devices = list(jax.devices() if devices is None else devices)
  shape = list(shape)
  if len(shape) != len(MESH_AXES):
    raise ValueError(f"mesh shape {shape} must have {len(MESH_AXES)} sizes "
                     f"for axes {MESH_AXES}")
  if shape.count(-1) > 1:
    raise ValueError(f"mesh shape {shape}: at most one size may be -1")
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if known <= 0 or len(devices) % known:
      raise ValueError(f"mesh shape {shape} does not fit {len(devices)} "
                       "devices")
    shape[shape.index(-1)] = len(devices) // known
  if math.prod(shape) != len(devices):
    raise ValueError(f"mesh shape {tuple(shape)} needs {math.prod(shape)} "
                     f"devices, but {len(devices)} are available")
  return jax.make_mesh(tuple(shape), MESH_AXES, devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)


def _mesh_sizes(mesh) -> dict[str, int]:
  return dict(mesh.shape)


def spec_for(shape: Sequence[int], names: Sequence[str | None] | None,
             rules, mesh) -> P:
  """PartitionSpec for one array: rules applied, non-dividing axes dropped."""
  if names is None:
    return P()
  if len(names) != len(shape):
    raise ValueError(f"logical axes {tuple(names)} do not match shape "
                     f"{tuple(shape)}")
  sizes = _mesh_sizes(mesh)
  table = {}
  for name, axes in rules:
    table.setdefault(name, axes)
  used: set[str] = set()
  out = []
  for dim, name in zip(shape, names):
    axes = table.get(name) if name is not None else None
    if axes is None:
      out.append(None)
      continue
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    # Keep the mesh axes (in order) that exist, are unused and divide `dim`.
    kept = []
    for a in axes:
      n = sizes.get(a, 1)
      if a in used or n == 1:
        continue
      if dim % (math.prod(sizes[k] for k in kept) * n) == 0:
        kept.append(a)
    used.update(kept)
    out.append(None if not kept else kept[0] if len(kept) == 1
               else tuple(kept))
  return P(*out)


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
  """with_sharding_constraint by logical names, using the context's rules.

  A no-op unless both a mesh (`jax.set_mesh`) and rules
  (`flax.linen.logical_axis_rules`) are active while tracing.
  """
  rules = nn.get_logical_axis_rules()
  mesh = jax.sharding.get_abstract_mesh()
  if not rules or mesh.empty:
    return x
  return jax.lax.with_sharding_constraint(x, spec_for(x.shape, names, rules,
                                                      mesh))


def logical_axes(boxed_tree) -> Any:
  """Tree of logical-name tuples from a tree of flax partitioned boxes."""
  return jax.tree.map(
      lambda x: tuple(x.names) if isinstance(x, nn.Partitioned) else None,
      boxed_tree, is_leaf=lambda x: isinstance(x, nn.Partitioned))


def shardings_for(shapes_tree, axes_tree, mesh: Mesh, rules) -> Any:
  """NamedSharding tree for a tree of shapes (or arrays) and logical axes."""
  def one(x, names):
    return NamedSharding(mesh, spec_for(np.shape(x) if not hasattr(x, "shape")
                                        else x.shape, names, rules, mesh))
  return jax.tree.map(one, shapes_tree, axes_tree,
                      is_leaf=lambda x: x is None or isinstance(x, tuple))


def abstract_params(init_fn: Callable[[jax.Array], Any], rng: jax.Array):
  """(shape tree of unboxed params, tree of logical axes) without compute."""
  boxed = jax.eval_shape(init_fn, rng)
  return nn.unbox(boxed), logical_axes(boxed)


def init_sharded(init_fn: Callable[[jax.Array], Any], rng: jax.Array,
                 mesh: Mesh, rules=DEFAULT_RULES):
  """Initialises params straight into their shardings (never on one device).

  `init_fn(rng)` returns boxed params (e.g. `model.init(...)["params"]`).
  Returns (params, shardings, logical axes).
  """
  shapes, axes = abstract_params(init_fn, rng)
  shardings = shardings_for(shapes, axes, mesh, rules)
  params = jax.jit(lambda r: nn.unbox(init_fn(r)),
                   out_shardings=shardings)(rng)
  return params, shardings, axes


def sharded_fraction(params, min_size: int = 2**14) -> float:
  """Fraction of large parameters' bytes that are split across devices."""
  total = split = 0
  for x in jax.tree.leaves(params):
    if x.size < min_size:
      continue
    total += x.size
    if not x.sharding.is_fully_replicated:
      split += x.size
  return split / max(total, 1)
