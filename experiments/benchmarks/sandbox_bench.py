r"""Sandbox throughput: programs per second through `sandbox.Pool`.

  python experiments/benchmarks/sandbox_bench.py [--workers=2] [--n=200]

Two programs, each run --n times through one Pool(max_workers=--workers)
after a warm-up (the isolation probe):
  trivial   `print(1)`: the sandbox's own cost (a fresh interpreter, the
            namespaces, the mounts, the cgroup, the temporary directory)
  cpu 0.2s  a loop that burns about 0.2 s of CPU (calibrated in this
            process, the same code run the same way, before the runs)
It prints the isolation in use, per-program latency (median, p90) of each
kind alone, then the line `programs/s: X (trivial), Y (cpu 0.2 s)`.
Numbers depend on the machine's load: other work on the same cores lowers
them.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from r1jax.rewards import sandbox


def _cpu_program(n: int) -> str:
  return f"x = 0\nfor i in range({n}):\n  x += i * i\nprint(1)"


def _calibrate(seconds: float) -> int:
  """Iterations for which _cpu_program takes about `seconds` of CPU here,
  run the same way (module-level code, so globals, not fast locals)."""
  n = 200_000
  while True:
    code = compile(_cpu_program(n).replace("print(1)", ""), "<cal>", "exec")
    t0 = time.process_time()
    exec(code, {})  # pylint: disable=exec-used
    dt = time.process_time() - t0
    if dt > 0.1:
      return int(n * seconds / dt)
    n *= 4


def _rate(pool: sandbox.Pool, src: str, n: int) -> tuple[float, list[float]]:
  t0 = time.monotonic()
  res = pool.run([(src, "")] * n)
  wall = time.monotonic() - t0
  bad = [r for r in res if r.status != "ok"]
  if bad:
    raise SystemExit(f"{len(bad)} of {n} runs failed, e.g. {bad[0]}")
  return n / wall, [r.wall_s for r in res]


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--workers", type=int, default=2)
  ap.add_argument("--n", type=int, default=200, help="runs of each program")
  args = ap.parse_args()
  for k, v in sandbox.isolation().items():
    print(f"{k:>15}: {v}")
  cpu = _cpu_program(_calibrate(0.2))
  out = {}
  with sandbox.Pool(max_workers=args.workers) as pool:
    pool.run([("print(1)", "")] * 4)  # warm-up
    for name, src, n in (("trivial", "print(1)", args.n),
                         ("cpu 0.2 s", cpu, max(args.n // 4, 8))):
      rate, walls = _rate(pool, src, n)
      q = statistics.quantiles(walls, n=10)
      print(f"{name:>10}: {n} runs, {rate:.1f} programs/s, program wall "
            f"median {statistics.median(walls) * 1e3:.0f} ms, "
            f"p90 {q[-1] * 1e3:.0f} ms")
      out[name] = rate
  print(f"programs/s: {out['trivial']:.1f} (trivial), "
        f"{out['cpu 0.2 s']:.1f} (cpu 0.2 s)")


if __name__ == "__main__":
  main()
