r"""Sampled tokens/s: r1jax's sampler vs Hugging Face `generate`, same weights.

  pip install -e ".[bench]" && python experiments/benchmarks/sampler_bench.py

Qwen2-shaped model (hidden 512, 8 layers, 8 heads / 2 KV heads, MLP 1408,
vocab 32000, tied embeddings), batch 32, prompt length 64, 128 new tokens
(no early stop), temperature 1.0, float32. Both run on this machine's default
JAX backend / torch CPU. Also prints an estimated roofline: model FLOPs/s vs
the measured matmul peak. The LAST line is `speedup_vs_transformers=<ratio>`.
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


def bench_r1jax(params, tokens, mask, new, reps):
  kw = dict(max_new_tokens=new, sampling=Sampling(temperature=1.0))
  out = jit_sample(params, CFG, tokens, mask, jax.random.key(0), **kw)
  jax.block_until_ready(out)  # compile
  times = []
  for r in range(reps):
    t = time.perf_counter()
    out = jit_sample(params, CFG, tokens, mask, jax.random.key(r + 1), **kw)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t)
  assert int(out.length_B.min()) == new  # forced: no early stop
  return tokens.shape[0] * new / min(times)


def bench_hf(path, tokens, mask, new, reps):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  model = transformers.AutoModelForCausalLM.from_pretrained(path).float()
  model.eval()
  ids = torch.tensor(tokens, dtype=torch.long)
  am = torch.tensor(mask, dtype=torch.long)
  kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=True,
            temperature=1.0, top_k=0, top_p=1.0, pad_token_id=0,
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
  a = ap.parse_args()
  print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, "
        f"{os.cpu_count()} CPU cores")
  print(f"model: {CFG.num_params() / 1e6:.1f}M params; batch {a.batch}, "
        f"prompt {a.prompt_len}, new {a.new_tokens}, temperature 1.0, fp32")
  mesh = shd.make_mesh((1, 1, 1), jax.devices()[:1])
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  rng = np.random.default_rng(0)
  tokens = rng.integers(1, CFG.vocab_size, (a.batch, a.prompt_len),
                        dtype=np.int32)
  mask = np.ones_like(tokens)

  ours = bench_r1jax(params, tokens, mask, a.new_tokens, a.reps)
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
    theirs = bench_hf(d, tokens, mask, a.new_tokens, a.reps)
  print(f"transformers generate: {theirs:,.0f} tokens/s")
  print(f"speedup_vs_transformers={ours / theirs:.2f}")


if __name__ == "__main__":
  main()
