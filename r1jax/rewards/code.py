"""Code rewards: run the completion's program against the problem's tests.

The program is the last fenced code block after `</think>` (```python,
```py or a bare fence). All of one completion's tests run in ONE sandboxed
process (`r1jax.rewards.sandbox`, never in the trainer's process): a
harness executes the solution once per test with that test's stdin, a
per-test time limit, and writes each test's verdict to a saved copy of its
stdout, so a solution that closes stdout, exits or crashes still leaves
the verdicts of the tests before it. Test types (the example schema of
`r1jax.data.benchmarks.livecodebench`):

  stdin       stdin -> stdout, compared line by line after stripping
              trailing whitespace (and token by token with a 1e-6
              tolerance where both tokens are numbers)
  functional  LeetCode style: `input` = newline-separated JSON arguments,
              `output` = a JSON value; calls `Solution().<fn_name>` (or a
              top-level `<fn_name>`)
  check       HumanEval style: `input` defines check(candidate); passes if
              check(<fn_name>) returns

Verdicts per test: pass, wrong_answer, runtime_error, timeout,
memory_limit, output_limit; a program that could not be run at all
(the sandbox's infrastructure_error, after its retries) gets NO score:
NaN, left out of the reward and counted (`reward/<name>/missing`), and
in GRPO left out of the loss and of its group's statistics
(`unscored_frac`); never a silent 0.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Mapping, Sequence

import numpy as np

from r1jax.rewards import registry


class _Lazy:
  """r1jax.rewards.sandbox, imported on first use (reward workers and the
  modules that import accuracy need it only when code is scored)."""

  def __getattr__(self, name):
    from r1jax.rewards import sandbox as mod  # pylint: disable=g-import-not-at-top
    return getattr(mod, name)


sandbox = _Lazy()

VERDICTS = ("pass", "wrong_answer", "runtime_error", "timeout",
            "memory_limit", "output_limit", "no_code", "infrastructure_error")
TEST_TYPES = ("stdin", "functional", "check")
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)
_SENTINEL = "\x1eR1JAX-TEST-VERDICT "
_THINK_END = "</think>"


def extract_code(completion: str, think_opened: bool = False) -> str | None:
  """The last fenced code block after the last `</think>`; None when there
  is none (or the reasoning never closed, with `think_opened`)."""
  if _THINK_END in completion:
    completion = completion.rsplit(_THINK_END, 1)[1]
  elif think_opened:
    return None
  blocks = _FENCE.findall(completion)
  return blocks[-1] if blocks else None


def _same_output(got: str, want: str) -> bool:
  def lines(s):
    out = [l.rstrip() for l in s.strip("\n").split("\n")]
    while out and not out[-1]:
      out.pop()
    return out
  a, b = lines(got), lines(want)
  if a == b:
    return True
  ta, tb = " ".join(a).split(), " ".join(b).split()
  if len(ta) != len(tb):
    return False
  for x, y in zip(ta, tb):
    if x == y:
      continue
    try:
      fx, fy = float(x), float(y)
    except ValueError:
      return False
    if abs(fx - fy) > 1e-6 * max(1.0, abs(fy)):
      return False
  return True


# The harness: runs inside the sandbox; its own text, with the solution and
# tests passed as JSON (never formatted into code).
_HARNESS = r'''
import contextlib, io, json, os, signal, sys
_out = os.fdopen(os.dup(1), "w")
_spec = json.loads(sys.stdin.read())
sys.setrecursionlimit(10000)

class _TimeLimit(BaseException):
  pass

def _alarm(signum, frame):
  raise _TimeLimit()

signal.signal(signal.SIGALRM, _alarm)

def _report(i, verdict, got=None):
  _out.write(SENTINEL + json.dumps([i, verdict, got]) + "\n")
  _out.flush()

def _run(test):
  g = {"__name__": "__main__", "__builtins__": __builtins__}
  buf = io.StringIO()
  kind = test["testtype"]
  sys.stdin = io.StringIO(test["input"] if kind == "stdin" else "")
  result = None
  try:
    with contextlib.redirect_stdout(buf):
      try:
        exec(compile(_spec["program"], "<solution>", "exec"), g)
      except SystemExit as e:
        if kind != "stdin" or e.code not in (None, 0):
          raise
      if kind == "functional":
        args = [json.loads(l) for l in test["input"].split("\n") if l.strip()]
        sol = g.get("Solution")
        fn = getattr(sol(), _spec["fn_name"]) if sol else g[_spec["fn_name"]]
        result = fn(*args)
      elif kind == "check":
        exec(compile(test["input"], "<test>", "exec"), g)
        g["check"](g[_spec["fn_name"]])
  finally:
    sys.stdin = sys.__stdin__
  return buf.getvalue(), result

for _i, _test in enumerate(_spec["tests"]):
  signal.setitimer(signal.ITIMER_REAL, _spec["time_limit_s"])
  try:
    _got, _result = _run(_test)
    signal.setitimer(signal.ITIMER_REAL, 0)
  except _TimeLimit:
    _report(_i, "timeout")
  except MemoryError:
    signal.setitimer(signal.ITIMER_REAL, 0)
    _report(_i, "memory_limit")
  except AssertionError as _e:  # a failed check(): a wrong answer
    signal.setitimer(signal.ITIMER_REAL, 0)
    _report(_i, "wrong_answer" if _test["testtype"] == "check"
            else "runtime_error", repr(_e)[:200])
  except BaseException as _e:
    signal.setitimer(signal.ITIMER_REAL, 0)
    _report(_i, "runtime_error", repr(_e)[:200])
  else:
    if _test["testtype"] == "functional":
      _report(_i, "result", json.dumps(_result, default=repr)[:100000])
    elif _test["testtype"] == "stdin":
      _report(_i, "output", _got[:1000000])
    else:
      _report(_i, "pass")
'''.replace("SENTINEL", repr(_SENTINEL))


@dataclasses.dataclass
class Judged:
  """One completion's verdicts: per test, and the program's status."""
  verdicts: list[str]
  status: str  # the sandbox's status for the process ('ok', 'timeout'...)

  @property
  def passed(self) -> int:
    return sum(v == "pass" for v in self.verdicts)

  @property
  def infra(self) -> bool:
    return self.status == "infrastructure_error"

  def first_failure(self) -> str:
    for v in self.verdicts:
      if v != "pass":
        return v
    return "pass"


def _spec(program: str, example: Mapping[str, Any], time_limit_s: float,
          preamble: str) -> dict:
  tests = list(example.get("tests") or ())
  for i, t in enumerate(tests):
    if t.get("testtype") not in TEST_TYPES:
      raise ValueError(f"{example.get('id')}: test {i}: testtype "
                       f"{t.get('testtype')!r} not in {TEST_TYPES}")
  pre = example.get("preamble") or preamble
  return {"program": (pre + "\n" + program) if pre else program,
          "tests": [{"input": t["input"], "testtype": t["testtype"]}
                    for t in tests],
          "fn_name": example.get("fn_name") or "",
          "time_limit_s": float(example.get("time_limit_s") or time_limit_s)}


def _verdicts(example: Mapping[str, Any], res: "sandbox.Result") -> list[str]:
  tests = example["tests"]
  out = [None] * len(tests)
  for line in res.stdout.split("\n"):
    if not line.startswith(_SENTINEL):
      continue
    try:
      i, kind, got = json.loads(line[len(_SENTINEL):])
    except ValueError:
      continue
    t = tests[i]
    if kind == "output":
      out[i] = "pass" if _same_output(got, t["output"]) else "wrong_answer"
    elif kind == "result":
      try:
        ok = json.loads(got) == json.loads(t["output"])
      except ValueError:
        ok = False
      out[i] = "pass" if ok else "wrong_answer"
    else:
      out[i] = kind
  # Tests the process never reported: it died or hit a limit on them.
  fill = {"ok": "runtime_error", "runtime_error": "runtime_error"}.get(
      res.status, res.status)
  return [v if v is not None else fill for v in out]


def judge(programs: Sequence[str | None],
          examples: Sequence[Mapping[str, Any]], *,
          pool: "sandbox.Pool | None" = None, time_limit_s: float = 4.0,
          limits: "sandbox.Limits | None" = None,
          preamble: str = "") -> list[Judged]:
  """Each program (None: no code was found) against its example's tests;
  one sandboxed process per program, `time_limit_s` per test."""
  jobs, rows, longest = [], [], 0.0
  for i, (prog, ex) in enumerate(zip(programs, examples)):
    if prog is not None and ex.get("tests"):
      spec = _spec(prog, ex, time_limit_s, preamble)
      jobs.append((_HARNESS, json.dumps(spec)))
      rows.append(i)
      longest = max(longest, spec["time_limit_s"] * len(spec["tests"]))
  base = limits or sandbox.Limits()
  # The whole process: every test's limit, plus start-up; the reported
  # outputs of stdin tests can be large (Codeforces tests are MBs).
  lim = dataclasses.replace(base, wall_s=max(base.wall_s, longest + 2.0),
                            cpu_s=max(base.cpu_s, longest + 1.0),
                            output_kb=max(base.output_kb, 16384))
  own = pool is None
  pool = pool or sandbox.Pool(max_workers=2, limits=lim)
  try:
    results = pool.run(jobs, limits=lim) if jobs else []
  finally:
    if own:
      pool.close()
  out = [Judged(["no_code"] * max(1, len(ex.get("tests") or ())), "no_code")
         for ex in examples]
  for i, res in zip(rows, results):
    if res.status == "infrastructure_error":
      out[i] = Judged(["infrastructure_error"] * len(examples[i]["tests"]),
                      res.status)
    else:
      out[i] = Judged(_verdicts(examples[i], res), res.status)
  return out


_POOLS: dict[int, Any] = {}


def shared_pool(num_workers: int = 0):
  """One sandbox pool per size for the process (0: 2 workers)."""
  n = max(1, int(num_workers) or 2)
  if n not in _POOLS:
    _POOLS[n] = sandbox.Pool(max_workers=n)
  return _POOLS[n]


def judged(batch: registry.RewardBatch, think_opened: bool, time_limit_s:
           float, num_workers: int) -> list[Judged]:
  """The batch's verdicts, computed once (shared by code and
  code_partial through batch.cache)."""
  key = ("code", think_opened, time_limit_s)
  if key not in batch.cache:
    programs = [extract_code(t, think_opened) for t in batch.completions]
    batch.cache[key] = judge(programs, batch.examples,
                             pool=shared_pool(num_workers),
                             time_limit_s=time_limit_s)
  return batch.cache[key]


def _result(js: list[Judged], values_B: np.ndarray) -> registry.RewardResult:
  counts = {v: 0 for v in VERDICTS}
  for j in js:
    counts[j.first_failure()] += 1
  infra = counts["infrastructure_error"]
  values_B[[i for i, j in enumerate(js) if j.infra]] = np.nan
  n = max(len(js), 1)
  return registry.RewardResult(
      values_B, failures=infra,
      metrics={k: c / n for k, c in counts.items()})


@registry.register("code")
def code(batch: registry.RewardBatch, think_opened: bool = False,
         time_limit_s: float = 4.0,
         num_workers: int = 2) -> registry.RewardResult:
  """1.0 when every test passes, else 0.0; NaN (no score, counted) when the
  sandbox could not run the program. Metrics: the fraction of completions
  per first failure (pass, wrong_answer, timeout, ..., no_code)."""
  js = judged(batch, think_opened, time_limit_s, num_workers)
  values_B = np.asarray([float(j.passed == len(j.verdicts) and
                               j.verdicts[0] != "no_code") for j in js],
                        np.float32)
  return _result(js, values_B)


@registry.register("code_partial")
def code_partial(batch: registry.RewardBatch, think_opened: bool = False,
                 time_limit_s: float = 4.0,
                 num_workers: int = 2) -> registry.RewardResult:
  """The fraction of tests passed (partial credit); NaN as `code`."""
  js = judged(batch, think_opened, time_limit_s, num_workers)
  values_B = np.asarray([j.passed / max(len(j.verdicts), 1) for j in js],
                        np.float32)
  return _result(js, values_B)
