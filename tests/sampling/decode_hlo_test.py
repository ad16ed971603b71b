"""The compiled decode loops do no collective on an FSDP mesh (the weights
are resharded once before them, transformer.decode_params, not all-gathered
per token) and update the KV cache in place (no copy of a cache buffer per
step). Asserted on the compiled HLO text."""
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from r1jax import sharding as shd
from r1jax.models import decode_params, get_preset, init_params
from r1jax.sampling import Sampling, jit_sample, left_pad
from r1jax.sampling.sampler import kv_buckets

_HEADER = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_CALLEES = re.compile(
    r"(?:calls|to_apply|body|condition|true_computation|false_computation"
    r"|branch_computations)=\{?([^}\s,]+(?:,\s*%?[\w.\-]+)*)")
_COLLECTIVE = re.compile(r"\s(all-gather|all-reduce|collective-permute"
                         r"|all-to-all|reduce-scatter)(?:-start)?\(")
_WHILE = re.compile(r"\swhile\(.*condition=%?([\w.\-]+).*body=%?([\w.\-]+)")


def computations(hlo: str) -> dict[str, str]:
  """Computation name -> its text, from an HLO module's text."""
  comps, name, lines = {}, None, []
  for line in hlo.splitlines():
    m = _HEADER.match(line)
    if m and not line.startswith(" "):
      name, lines = m.group(1), []
    elif line.startswith("}") and name:
      comps[name] = "\n".join(lines)
      name = None
    elif name:
      lines.append(line)
  return comps


def reachable(comps: dict[str, str], root: str) -> set[str]:
  """`root` and every computation it calls, transitively."""
  seen, todo = set(), [root]
  while todo:
    c = todo.pop()
    if c in seen or c not in comps:
      continue
    seen.add(c)
    for m in _CALLEES.finditer(comps[c]):
      todo += [x.strip().lstrip("%") for x in m.group(1).split(",")]
  return seen


def collectives(comps, names) -> list[str]:
  return [f"{c}: {m.group(1)}" for c in sorted(names)
          for m in _COLLECTIVE.finditer(comps[c])]


def test_decode_loops_have_no_collectives_or_cache_copies_on_fsdp_mesh():
  cfg = get_preset("tiny")
  mesh = shd.make_mesh((1, 8, 1))
  params, _, _ = shd.init_sharded(lambda r: init_params(cfg, r),
                                  jax.random.key(0), mesh)
  # The weights really are FSDP-sharded (else the check below is vacuous).
  assert shd.sharded_fraction(params, min_size=1024) == 1.0
  tokens, mask = left_pad([[5, 6, 7], [8, 9]] * 4)  # 8 rows: one per device
  t, m = tokens.shape[1], 40
  # Three decode phases (caches of 24, 48, 56 slots).
  assert kv_buckets(t, m, 2.0, 24) == (24, 48, 56)
  kw = dict(max_new_tokens=m, sampling=Sampling(temperature=1.0, top_p=0.9),
            stop_ids=(3,), kv_bucket_ratio=2.0, kv_bucket_min=24)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    compiled = jit_sample.lower(params, cfg, tokens, mask, jax.random.key(0),
                                **kw).compile()
    got = compiled(params, tokens, mask, jax.random.key(0))
  hlo = compiled.as_text()
  # The mesh program (row-local top-k, per-row top-p paths) samples what
  # one device does.
  want = jit_sample(jax.device_get(params), cfg, tokens, mask,
                    jax.random.key(0), **kw)
  np.testing.assert_array_equal(got.tokens_BxM, want.tokens_BxM)
  np.testing.assert_allclose(got.logp_BxM, want.logp_BxM, atol=1e-5)
  comps = computations(hlo)
  loops = [m.groups() for c in comps.values() for m in _WHILE.finditer(c)]
  # The decode loops: while bodies that run the model (dots).
  decode = [(cond, body) for cond, body in loops
            if any(" dot(" in comps[c] or "custom-call(" in comps[c]
                   for c in reachable(comps, body))]
  assert len(decode) == 3, f"expected 3 decode loops among {loops}"
  # A per-device cache buffer: [1 row, K, S, H].
  cache_copy = re.compile(rf"= \w+\[1,{cfg.num_kv_heads},\d+,{cfg.head_dim}\]"
                          r"\{[\d,]*\} copy\(")
  for cond, body in decode:
    found = collectives(comps, reachable(comps, body))
    assert not found, f"collectives inside the decode loop body: {found}"
    copies = [c for c in reachable(comps, body)
              if cache_copy.search(comps[c])]
    assert not copies, f"KV cache copied inside the decode loop: {copies}"
    # The loop condition's only collective: the early stop's all-rows-done
    # (one pred[] all-reduce per step; the rows live on different devices).
    for c in reachable(comps, cond):
      for line in comps[c].splitlines():
        if _COLLECTIVE.search(line):
          assert re.search(r"= pred\[\] all-reduce\(", line), line
  # The weights are gathered once, outside the loops.
  assert collectives(comps, set(comps)), "expected a gather before the loop"


def test_weights_are_cast_to_the_compute_dtype_before_the_gather():
  """float32 params, bfloat16 compute: decode_params casts each weight where
  it lies and then reshards the bfloat16 copy (half the bytes gathered and
  held while sampling). Checked on the lowered program: XLA's CPU backend
  then widens bfloat16 collectives to float32 (its own lowering), GPU and
  TPU gather bfloat16."""
  cfg = get_preset("tiny").replace(dtype=jnp.bfloat16)
  mesh = shd.make_mesh((1, 8, 1))
  params, _, _ = shd.init_sharded(lambda r: init_params(cfg, r),
                                  jax.random.key(0), mesh)
  assert {x.dtype for x in jax.tree.leaves(params)} == {np.dtype("float32")}
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    lowered = jax.jit(lambda p: decode_params(p, cfg)).lower(params)
    out = lowered.compile()(params)
  assert {x.dtype for x in jax.tree.leaves(out)} == {np.dtype(jnp.bfloat16)}
  # Each weight: a constraint to its FSDP layout, then to the gathered one.
  layouts = re.findall(r"sharding_constraint %\w+ <@mesh, (\[.*\])> : "
                       r"tensor<[\dx]*x(\w+)>", lowered.as_text())
  assert {"fsdp"} <= {a.strip('"') for l, _ in layouts
                      for a in re.findall(r'"(\w+)"', l)}
  assert layouts and {t for _, t in layouts} == {"bf16"}, layouts
