"""experiments/benchmarks/memory_plan.py in --quick mode (tiny preset): the
tables it prints, FSDP sharding and donation of the state, and what chunked
attention and log-probs save."""
import dataclasses
import importlib.util
import os
import re
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _load():
  path = os.path.join(_ROOT, "experiments", "benchmarks", "memory_plan.py")
  spec = importlib.util.spec_from_file_location("memory_plan", path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up
  spec.loader.exec_module(module)
  return module


mp = _load()
M, N = 512, 4


@pytest.fixture(scope="module")
def quick():
  """The three programs at M=512 on a (1, 4, 1) mesh, chunks of 64."""
  args = mp.parse(["--quick", "--lengths", str(M), "--devices", str(N)])
  results, lines = mp.run(args)
  return args, {m.program: (c, m) for c, m in results}, lines


def test_table_has_a_row_per_program(quick):
  args, _, lines = quick
  assert mp.HEADER in lines
  for program in mp.PROGRAMS:
    row = [l for l in lines
           if l.startswith(f"| tiny | {M} | {program} | {N} |")]
    assert len(row) == 1, program
    assert len(row[0].split("|")) == len(mp.HEADER.split("|"))
  fit_rows = [l for l in lines if re.match(rf"\| tiny \| {M} \| \w+ \| \(",
                                           l)]
  assert fit_rows == [f"| tiny | {M} | {p} | (1, {N}, 1) | (1, {N}, 1) |"
                      for p in mp.PROGRAMS]
  assert re.fullmatch(rf"tiny M={M} G={args.group} learner: [0-9.e-]+ "
                      rf"GiB/device on {N} devices", lines[-1]), lines[-1]


def test_state_is_fsdp_sharded_and_donated(quick):
  _, res, _ = quick
  case = res["learner"][0]
  per_device = {}
  for n in (2, 8):
    _, _, _, state = mp.train_state(dataclasses.replace(case, devices=n))
    per_device[n] = mp.device_bytes(state)
  # 4x the devices: about 1/4 of the params and AdamW moments each, up to
  # the unsharded norms and biases.
  assert 0.25 < per_device[8] / per_device[2] < 0.3, per_device
  _, _, _, state = mp.train_state(case)
  own = mp.device_bytes(state)
  for program in ("learner", "sft"):  # updated in place (donated)
    m = res[program][1]
    assert own * 0.99 <= m.alias <= own, (program, m, own)
    assert m.args > own
  _, _, _, replicated = mp.train_state(
      dataclasses.replace(case, moments="replicated"))
  assert mp.device_bytes(replicated) > 2.5 * own
  sampler = res["sampler"][1]  # the moments and the reference stay
  assert sampler.resident == mp.device_bytes(
      (state["opt_state"], state["params"]))


def test_chunked_attention_and_logits_lower_learner_temps(quick):
  _, res, _ = quick
  case, chunked = res["learner"]
  kernel = dict(mp.kernel_fields("xla", None, 0)[0])
  if set(kernel) != {"attention", "logits_chunk"}:
    pytest.skip("ModelConfig has no attention / logits_chunk fields")
  assert dict(case.kernel)["attention"] == "chunked"
  (full,) = mp.plan(dataclasses.replace(case, kernel=tuple(kernel.items())),
                    ["learner"])
  assert chunked.temp < 0.5 * full.temp, (chunked, full)
  assert chunked.args == full.args


def test_smallest_mesh_that_fits_each_budget():
  gib = mp.GiB
  results = [(mp.Case("p", n, 8), mp.Memory("learner", 0, 0, 0, t * gib))
             for n, t in ((8, 100), (16, 90), (64, 70))]
  results.append((mp.Case("p", 8, 8), mp.Memory("sampler", 0, 0, 0, 10 * gib,
                                               resident=96 * gib)))
  lines = mp.fits(results, [80, 95, 60])
  assert lines[2] == ("| p | 8 | learner | (1, 64, 1) | (1, 16, 1) "
                      "| none of 8,16,64 |")
  assert lines[3] == "| p | 8 | sampler | none of 8 | none of 8 | none of 8 |"
