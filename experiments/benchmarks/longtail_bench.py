r"""Continuous vs static batching on long-tailed completion lengths.

  python experiments/benchmarks/longtail_bench.py
  python experiments/benchmarks/longtail_bench.py --prompts=32 \
      --max_len=256 --slots=8  # a smoke run

256 prompts (8 to 64 tokens, random) whose completion lengths are drawn
from a log-normal (median 384 tokens, sigma 1.0) clipped to [16, 4096], as
reasoning traces are: most short, a few 10x longer. Each row is stopped at
its drawn length (a per-row token budget; no stop ids, so EOS never ends a
row early). Both schedules run the SAME compiled kernel
(r1jax/sampling/continuous.py) with the same `--slots` cache rows, so only
the scheduling differs:
  static      the prompts in fixed batches of `slots` rows (queue order),
              one call per batch, each running until its longest row;
  continuous  one call over the whole queue, a slot refilled with the next
              prompt as soon as its row ends.
Model: r1jax's `tiny` preset (2 layers, width 32, 4 heads / 2 KV heads of
8, vocab 256; random weights), float32, temperature 1.0: the cost per step
is mostly reading the [slots, K, S, H] cache, S = 64 + 4096 slots, as in a
small model at R1 lengths. tokens/s = generated tokens / wall seconds after
compilation (the best of --reps). The LAST line is
`continuous_vs_static=<ratio>` (continuous tokens/s over static tokens/s).

`--also_sampler` adds the eval runner's static path for reference (not the
last line): `sampling.jit_sample` per batch with max_new_tokens = that
batch's longest row (its own kernel, whose per-step cost follows the filled
cache), tokens/s counting the rows' drawn lengths only.
"""

import argparse
import time

import flax.linen as nn
import jax
import numpy as np

from r1jax.models import get_preset, init_params
from r1jax.sampling import Sampling, continuous, jit_sample, left_pad


def parse_args(argv=None):
  p = argparse.ArgumentParser(
      description=__doc__.split("\n")[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--prompts", type=int, default=256,
                 help="prompts in the queue (one completion each)")
  p.add_argument("--slots", type=int, default=32,
                 help="cache rows decoded at once (static: rows per batch)")
  p.add_argument("--max_len", type=int, default=4096,
                 help="longest completion: lengths are clipped to it and "
                      "it is the kernel's max_new_tokens")
  p.add_argument("--min_len", type=int, default=16,
                 help="shortest completion (clip)")
  p.add_argument("--median", type=float, default=384.0,
                 help="median completion length of the log-normal draw")
  p.add_argument("--sigma", type=float, default=1.0,
                 help="log-normal sigma (the tail's weight)")
  p.add_argument("--prompt_len", type=int, default=64,
                 help="longest prompt; lengths uniform in [8, prompt_len]")
  p.add_argument("--refill_rows", type=int, default=0,
                 help="prompts prefilled per refill (0: slots // 8)")
  p.add_argument("--preset", default="tiny",
                 help="r1jax model preset (random weights)")
  p.add_argument("--reps", type=int, default=1,
                 help="timed runs of each schedule (the best is reported)")
  p.add_argument("--seed", type=int, default=0,
                 help="seed of the lengths, prompts and sampling keys")
  p.add_argument("--also_sampler", action="store_true",
                 help="also time the static sampler (sampling.jit_sample) "
                      "in the same batches, for reference")
  return p.parse_args(argv)


def lengths(a) -> np.ndarray:
  rs = np.random.RandomState(a.seed)
  x = rs.lognormal(np.log(a.median), a.sigma, a.prompts)
  return np.clip(np.round(x), a.min_len, a.max_len).astype(np.int32)


def sampler_rate(a, params, cfg, tokens, mask, keys, budget, batches):
  """Drawn tokens/s of jit_sample over the static batches (compiled first;
  a batch runs to its longest row, shorter rows' extra tokens uncounted)."""
  calls = []
  for lo, hi in batches:
    args = (tokens[lo:hi], mask[lo:hi], keys[lo:hi])
    fn = jit_sample.lower(
        params, cfg, *args, max_new_tokens=int(budget[lo:hi].max()),
        sampling=Sampling(temperature=1.0)).compile()
    calls.append((fn, args))
  best = float("inf")
  for _ in range(a.reps):
    t = time.perf_counter()
    jax.block_until_ready([fn(params, *args) for fn, args in calls])
    best = min(best, time.perf_counter() - t)
  return int(budget.sum()) / best


def main(argv=None):
  a = parse_args(argv)
  cfg = get_preset(a.preset).replace(max_seq_len=a.prompt_len + a.max_len)
  params = nn.unbox(init_params(cfg, jax.random.key(a.seed)))
  rs = np.random.RandomState(a.seed + 1)
  tokens, mask = left_pad(
      [list(rs.randint(3, cfg.vocab_size, rs.randint(8, a.prompt_len + 1)))
       for _ in range(a.prompts)], length=a.prompt_len)
  budget = lengths(a)
  keys = jax.random.split(jax.random.key(a.seed + 2), a.prompts)
  total = int(budget.sum())
  print(f"model {a.preset}: {cfg.num_params():,} params; {a.prompts} "
        f"prompts, {a.slots} slots, prompt length {a.prompt_len}, "
        f"max_new_tokens {a.max_len}")
  print(f"completion lengths: mean {budget.mean():.0f} median "
        f"{np.median(budget):.0f} p90 {np.percentile(budget, 90):.0f} max "
        f"{budget.max()} (log-normal median {a.median:g} sigma "
        f"{a.sigma:g}, clipped to [{a.min_len}, {a.max_len}]); "
        f"{total:,} tokens")
  kw = dict(slots=a.slots, max_new_tokens=a.max_len,
            sampling=Sampling(temperature=1.0), refill_rows=a.refill_rows)
  run = lambda lo, hi, b: continuous.jit_sample(  # noqa: E731
      params, cfg, tokens[lo:hi], mask[lo:hi], keys[lo:hi], b[lo:hi], **kw)
  batches = [(i, min(i + a.slots, a.prompts))
             for i in range(0, a.prompts, a.slots)]
  ones = np.ones_like(budget)

  def static(b):
    return [run(lo, hi, b) for lo, hi in batches]

  def cont(b):
    return [run(0, a.prompts, b)]

  rates = {}
  for name, fn in (("static", static), ("continuous", cont)):
    jax.block_until_ready(fn(ones))  # compile (one token per row)
    best = float("inf")
    for _ in range(a.reps):
      t = time.perf_counter()
      outs = jax.block_until_ready(fn(budget))
      best = min(best, time.perf_counter() - t)
    got = np.concatenate([np.asarray(o.length_B) for o in outs])
    assert (got == budget).all(), "a row did not stop at its drawn length"
    rates[name] = total / best
    print(f"{name}: {best:.2f} s, {rates[name]:,.0f} tokens/s")
  if a.also_sampler:
    rates["sampler"] = sampler_rate(a, params, cfg, tokens, mask, keys,
                                    budget, batches)
    print(f"static sampler (jit_sample per batch): "
          f"{rates['sampler']:,.0f} tokens/s; continuous / it = "
          f"{rates['continuous'] / rates['sampler']:.2f}")
  steps = sum(int(budget[lo:hi].max()) for lo, hi in batches)
  print(f"decode steps: static {steps:,} (sum of each batch's longest row), "
        f"continuous >= {max(-(-total // a.slots), int(budget.max())):,}")
  print(f"continuous_vs_static={rates['continuous'] / rates['static']:.2f}")


if __name__ == "__main__":
  main()
