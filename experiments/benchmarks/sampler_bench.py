r"""Sampled tokens/s: r1jax's sampler vs Hugging Face `generate`, same weights.

  pip install -e ".[bench]" && python experiments/benchmarks/sampler_bench.py

Qwen2-shaped model (hidden 512, 8 layers, 8 heads / 2 KV heads, MLP 1408,
vocab 32000, tied embeddings), batch 32, prompt length 64, 128 new tokens
(no early stop), temperature 1.0, float32. Both run on this machine's default
JAX backend / torch CPU. Also prints an estimated roofline: model FLOPs/s vs
the measured matmul peak. The LAST line is `speedup_vs_transformers=<ratio>`.

R1 lengths: `--new_tokens=2048` (with `--batch=16` as the issue's 1,024-token
run). `--ab` also times, in the same process, the sampler attending over the
whole cache every step (`--kv_bucket_ratio=0`, the pre-bucket decode) and
prints `bucket_speedup=<ratio>`; `--profile_dir` writes a jax.profiler trace
of one timed run (TensorBoard / Perfetto).
"""

import argparse
import os
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import sharding as shd
from r1jax.models import ModelConfig, hf, init_params
from r1jax.sampling import Sampling, jit_sample

CFG = ModelConfig(vocab_size=32000, num_layers=8, embed_dim=512, num_heads=8,
                  num_kv_heads=2, head_dim=64, mlp_dim=1408, qkv_bias=True,
                  tie_embeddings=True, rope_theta=1e6, family="qwen2",
                  max_seq_len=4096)


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  t = time.perf_counter()
  for _ in range(reps):
    out = f(a)
  out.block_until_ready()
  return 2 * n**3 * reps / (time.perf_counter() - t)


def flops_per_token(cfg: ModelConfig, context: float) -> float:
  """2 x (weights used per token, LM head included) + attention scores/values."""
  weights = cfg.num_params()  # tied: the embedding is the LM head
  attn = 4 * cfg.num_layers * cfg.num_heads * cfg.head_dim * context
  return 2 * weights + attn


def bench_r1jax(params, tokens, mask, new, reps, top_p=1.0, ratio=2.0,
                profile_dir=None):
  kw = dict(max_new_tokens=new,
            sampling=Sampling(temperature=1.0, top_p=top_p),
            kv_bucket_ratio=ratio or None)
  t = time.perf_counter()
  out = jit_sample(params, CFG, tokens, mask, jax.random.key(0), **kw)
  jax.block_until_ready(out)  # compile
  print(f"  compile + first run ({ratio=}): {time.perf_counter() - t:.1f} s")
  times = []
  for r in range(reps):
    if profile_dir and r == reps - 1:
      jax.profiler.start_trace(profile_dir)
    t = time.perf_counter()
    out = jit_sample(params, CFG, tokens, mask, jax.random.key(r + 1), **kw)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t)
    if profile_dir and r == reps - 1:
      jax.profiler.stop_trace()
  assert int(out.length_B.min()) == new  # forced: no early stop
  return tokens.shape[0] * new / min(times)


def bench_hf(path, tokens, mask, new, reps, top_p=1.0):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  model = transformers.AutoModelForCausalLM.from_pretrained(path).float()
  model.eval()
  ids = torch.tensor(tokens, dtype=torch.long)
  am = torch.tensor(mask, dtype=torch.long)
  kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=True,
            temperature=1.0, top_k=0, top_p=top_p, pad_token_id=0,
            eos_token_id=None)
  times = []
  with torch.no_grad():
    model.generate(input_ids=ids, attention_mask=am, **{**kw,
                                                       "max_new_tokens": 4,
                                                       "min_new_tokens": 4})
    for _ in range(reps):
      t = time.perf_counter()
      model.generate(input_ids=ids, attention_mask=am, **kw)
      times.append(time.perf_counter() - t)
  return tokens.shape[0] * new / min(times)


def main():
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--batch", type=int, default=32,
                  help="sequences sampled together (default: %(default)s)")
  ap.add_argument("--prompt_len", type=int, default=64,
                  help="prompt tokens per sequence (default: %(default)s)")
  ap.add_argument("--new_tokens", type=int, default=128,
                  help="sampled tokens per sequence, no early stop "
                  "(default: %(default)s)")
  ap.add_argument("--reps", type=int, default=3,
                  help="timed runs after a warm-up (compile) run; the "
                  "fastest is reported (default: %(default)s)")
  ap.add_argument("--skip_hf", action="store_true",
                  help="time r1jax only (no transformers/torch needed)")
  ap.add_argument("--top_p", type=float, default=1.0,
                  help="nucleus sampling for both samplers; 1.0 = off "
                  "(default: %(default)s)")
  ap.add_argument("--kv_bucket_ratio", type=float, default=2.0,
                  help="growth of the decode phases' KV cache lengths "
                  "(sampler.kv_buckets); 0 = attend over the whole cache "
                  "every step (default: %(default)s)")
  ap.add_argument("--ab", action="store_true",
                  help="also time --kv_bucket_ratio=0 in this process and "
                  "print bucket_speedup=<ratio>")
  ap.add_argument("--profile_dir", default="",
                  help="write a jax.profiler trace of the last timed r1jax "
                  "run here (default: none)")
  a = ap.parse_args()
  print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, "
        f"{os.cpu_count()} CPU cores")
  print(f"model: {CFG.num_params() / 1e6:.1f}M params; batch {a.batch}, "
        f"prompt {a.prompt_len}, new {a.new_tokens}, temperature 1.0, "
        f"top_p {a.top_p}, fp32")
  mesh = shd.make_mesh((1, 1, 1), jax.devices()[:1])
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  rng = np.random.default_rng(0)
  tokens = rng.integers(1, CFG.vocab_size, (a.batch, a.prompt_len),
                        dtype=np.int32)
  mask = np.ones_like(tokens)

  ours = bench_r1jax(params, tokens, mask, a.new_tokens, a.reps, a.top_p,
                     a.kv_bucket_ratio, a.profile_dir or None)
  if a.ab:
    whole = bench_r1jax(params, tokens, mask, a.new_tokens, a.reps, a.top_p,
                        0.0)
    print(f"r1jax sampler, whole cache every step: {whole:,.0f} tokens/s")
    print(f"bucket_speedup={ours / whole:.2f}")
  peak = matmul_peak()
  ctx = a.prompt_len + a.new_tokens / 2
  achieved = ours * flops_per_token(CFG, ctx)
  print(f"r1jax sampler: {ours:,.0f} tokens/s")
  print(f"roofline: {achieved / 1e9:.1f} GFLOP/s model FLOPs vs "
        f"{peak / 1e9:.1f} GFLOP/s measured matmul peak "
        f"({100 * achieved / peak:.0f}%)")
  if a.skip_hf:
    return
  with tempfile.TemporaryDirectory() as d:
    hf.save(d, CFG, params)
    theirs = bench_hf(d, tokens, mask, a.new_tokens, a.reps, a.top_p)
  print(f"transformers generate: {theirs:,.0f} tokens/s")
  print(f"speedup_vs_transformers={ours / theirs:.2f}")


if __name__ == "__main__":
  main()
