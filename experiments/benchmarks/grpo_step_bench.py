r"""Wall time per GRPO step: r1jax vs TRL's GRPOTrainer, same weights.

  pip install -e ".[bench]" && python experiments/benchmarks/grpo_step_bench.py

One step = one rollout batch and one optimizer update: 4 prompts (64 tokens
each) x G=8 completions = 32 completions of EXACTLY 128 sampled tokens
(`--completion_len`, e.g. 1024 for the long-completion shape; EOS
suppressed, temperature 1.0), a random reward, group-normalised advantages, a
reference-model forward for the KL term (beta 0.04), and one AdamW update on
all 32 completions (num_iterations 1, no gradient accumulation). Same
Qwen2-shaped model as sampler_bench.py (hidden 512, 8 layers, 8 heads / 2 KV
heads, MLP 1408, vocab 32000, tied embeddings), float32: r1jax on this
machine's default JAX backend, TRL on torch CPU (no vLLM). Both sides start
from the same r1jax init (seed 0), exported with r1jax.models.hf.save; the
tokenizer is a made-up offline word-level one over the 32000 ids.
`--attention` and `--logits_chunk` set r1jax's ModelConfig fields (learner
attention implementation; lm head over chunks of positions). Reports the
median seconds per step after `--warmup` steps. The LAST line is
`speedup_vs_trl=<ratio>` (TRL s/step / r1jax s/step).
"""

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from r1jax import sharding as shd
from r1jax.losses import grpo as grpo_loss
from r1jax.models import ModelConfig, hf, init_params
from r1jax.rewards.device import combine, vocab
from r1jax.sampling import Sampling
from r1jax.trainers import grpo_step, train_state
# The same model and matmul peak as the sampler benchmark (this directory).
from sampler_bench import CFG, matmul_peak  # pylint: disable=g-bad-import-order

PROMPT_LEN = 64
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"  # ids 0, 1, 2; words "w3".."w31999"


def save_tokenizer(model_dir: str, vocab_size: int = CFG.vocab_size) -> None:
  """Writes an offline word-level tokenizer (one id per "w<i>" word)."""
  import tokenizers  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  vocab = {PAD: 0, EOS: 1, UNK: 2}
  vocab.update({f"w{i}": i for i in range(3, vocab_size)})
  tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token=UNK))
  tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
  transformers.PreTrainedTokenizerFast(
      tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
      padding_side="left", truncation_side="left",
  ).save_pretrained(model_dir)


def prompt_texts(n: int, seed: int = 0) -> list[str]:
  """n prompts of PROMPT_LEN random word tokens (no special ids)."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(3, CFG.vocab_size, (n, PROMPT_LEN))
  return [" ".join(f"w{i}" for i in row) for row in ids]


def trl_seconds_per_step(model_dir: str, *, steps: int, warmup: int,
                         prompts: int = 4, group: int = 8,
                         completion_len: int = 128,
                         beta: float = 0.04) -> float:
  """Median wall seconds per TRL GRPOTrainer step (float32, torch CPU)."""
  import datasets  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  import trl  # pylint: disable=g-import-not-at-top

  # Not AutoTokenizer: with config.json saying qwen2 it builds a
  # Qwen2Tokenizer (byte-level BPE) that drops our word-level model.
  tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(model_dir)
  texts = prompt_texts(prompts * (warmup + steps))
  for ids in tokenizer(texts)["input_ids"]:
    assert len(ids) == PROMPT_LEN, len(ids)  # no BOS/EOS added, no splits
  dataset = datasets.Dataset.from_dict({"prompt": texts})

  lengths = []
  rng = random.Random(0)

  def random_reward(completions, completion_ids, **kw):
    del kw
    lengths.extend(len(c) for c in completion_ids)
    return [rng.random() for _ in completions]

  out_dir = tempfile.mkdtemp(prefix="trl_grpo_bench_")
  config = trl.GRPOConfig(
      output_dir=out_dir,  # nothing is written there (no saves, no logs)
      use_cpu=True, bf16=False, fp16=False,  # float32 on CPU
      max_steps=warmup + steps,
      per_device_train_batch_size=prompts * group,  # one step = all G*prompts
      gradient_accumulation_steps=1,
      num_generations=group,
      num_iterations=1,  # one update per rollout batch
      max_completion_length=completion_len,
      # With EOS masked out until completion_len, every completion is exactly
      # completion_len tokens (checked below).
      generation_kwargs={"min_new_tokens": completion_len},
      temperature=1.0, top_p=1.0, top_k=0,
      beta=beta,
      loss_type="grpo",  # DeepSeekMath/R1 per-sequence mean; all lengths equal
      learning_rate=1e-6, lr_scheduler_type="constant", warmup_steps=0,
      gradient_checkpointing=False,  # 39M params: no need to trade compute
      use_vllm=False,
      report_to=[], logging_strategy="no", save_strategy="no",
      disable_tqdm=True, log_completions=False,
      dataloader_num_workers=0, seed=0,
  )
  times = []

  class StepTimer(transformers.TrainerCallback):
    """Wall time of each optimizer step (rollout + reward + ref + update)."""

    def on_step_begin(self, args, state, control, **kw):
      self.t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
      times.append(time.perf_counter() - self.t)

  trainer = trl.GRPOTrainer(
      model=transformers.AutoModelForCausalLM.from_pretrained(
          model_dir, dtype=torch.float32),
      reward_funcs=random_reward,
      args=config,
      train_dataset=dataset,
      processing_class=tokenizer,
      callbacks=[StepTimer()],
  )
  assert trainer.ref_model is not None  # beta > 0: reference forward runs
  try:
    trainer.train()
  finally:
    shutil.rmtree(out_dir, ignore_errors=True)

  n = prompts * group
  assert len(times) == warmup + steps, times
  assert len(lengths) == n * (warmup + steps), len(lengths)
  assert set(lengths) == {completion_len}, sorted(set(lengths))
  print(f"TRL {trl.__version__} (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads) step times: "
        + ", ".join(f"{t:.2f}" for t in times) + " s "
        f"(first {warmup} warmup); completions: {n} x {completion_len} tokens")
  return statistics.median(times[warmup:])


def _spec(cfg: ModelConfig, prompts, group, completion_len, beta, rewards):
  lc = grpo_loss.make_config("grpo", beta=beta)
  return grpo_step.RLSpec(
      cfg=cfg, num_prompts=prompts, group=group,
      max_new_tokens=completion_len, sampling=Sampling(temperature=1.0),
      stop_ids=(), pad_id=0, loss=lc, rewards=rewards)


def _median_time(fn, steps: int, warmup: int) -> tuple[float, list]:
  times = []
  for s in range(warmup + steps):
    t = time.perf_counter()
    fn(s)
    times.append(time.perf_counter() - t)
  return statistics.median(times[warmup:]), times


def r1jax_seconds_per_step(params, cfg: ModelConfig, *, steps: int,
                           warmup: int, prompts: int = 4, group: int = 8,
                           completion_len: int = 128,
                           beta: float = 0.04) -> dict:
  """Median wall seconds per r1jax GRPO step (same workload as TRL's), for
  the one-program step (jnp reward) and the two-program split (a random
  Python reward between rollout and update, as TRL's)."""
  mesh = jax.tree.leaves(params)[0].sharding.mesh
  tx = optax.adamw(1e-6)
  rng = np.random.default_rng(0)
  ids = rng.integers(3, cfg.vocab_size, (prompts, PROMPT_LEN)).astype(np.int32)
  toks, mask = jnp.asarray(ids), jnp.ones_like(jnp.asarray(ids))
  # A jnp reward: the format reward over made-up tag ids (cheap, like TRL's
  # random reward; its value does not matter for the timing).
  tags = vocab.Tags((3,), (4,), (5,), (6,))
  rewards = combine.DeviceRewardSpec.from_config({"format": 1.0}, {}, None,
                                                 tags, report=())
  spec = _spec(cfg, prompts, group, completion_len, beta, rewards)
  out = {}
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    # ONE PROGRAM: rollout + reward + advantages + update.
    state = train_state.init_state(jax.tree.map(jnp.copy, params), tx)
    # The frozen models: the reference (KL); no distillation teacher.
    frozen = {"ref": jax.tree.map(jnp.copy, params), "teacher": None}
    step = jax.jit(grpo_step.make_rl_step(spec, tx), donate_argnums=(0,))
    batch = {"prompts": toks, "pmask": mask, "answers": {},
             "class_V": jnp.zeros((cfg.vocab_size,), jnp.int32)}
    box = {"state": state}

    def one(s):
      box["state"], m, x = step(box["state"], frozen, batch,
                                jax.random.key(s))
      assert int(x["length"].min()) == completion_len
      jax.block_until_ready(box["state"])

    out["one_program"], t1 = _median_time(one, steps, warmup)
    # TWO PROGRAMS: rollout, a Python reward on the host, update.
    rollout = jax.jit(grpo_step.make_rollout(spec))
    learn = jax.jit(grpo_step.make_learn(spec, tx), donate_argnums=(0,))

    def two(s):
      comp = rollout(box["state"]["params"], toks, mask, jax.random.key(s))
      host = jax.device_get(comp)
      r = np.array([random.random() for _ in host.length_B], np.float32)
      box["state"], _ = learn(box["state"], frozen, toks, mask, comp,
                              jnp.asarray(r), jax.random.key(s))
      jax.block_until_ready(box["state"])

    out["two_programs"], t2 = _median_time(two, steps, warmup)
  print("r1jax step times (one program): "
        + ", ".join(f"{t:.2f}" for t in t1) + f" s (first {warmup} warmup)")
  print("r1jax step times (two programs): "
        + ", ".join(f"{t:.2f}" for t in t2) + " s")
  return out


def step_flops(cfg: ModelConfig, prompts, group, completion_len,
               beta) -> float:
  """Model FLOPs of one step: 2N per token forward (sampling, reference),
  6N per token forward + backward (update), plus attention score FLOPs."""
  n_head = cfg.vocab_size * cfg.embed_dim
  # Non-embedding params (the lookup is free; the output head is not).
  n = cfg.num_params() - n_head * (1 if cfg.tie_embeddings else 2)
  b, s = prompts * group, PROMPT_LEN + completion_len
  attn = lambda q, k: 4 * cfg.num_layers * cfg.num_heads * cfg.head_dim * q * k  # noqa
  sample = (2 * n * (prompts * PROMPT_LEN + b * completion_len)
            + 2 * n_head * (prompts + b * completion_len)
            + attn(prompts * PROMPT_LEN, PROMPT_LEN / 2)
            + attn(b * completion_len, PROMPT_LEN + completion_len / 2))
  fwd = 2 * n * b * s + 2 * n_head * b * completion_len + attn(b * s, s / 2)
  return sample + 3 * fwd + (fwd if beta > 0 else 0)


def main():
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--steps", type=int, default=3,
                  help="timed steps per side; the median is reported "
                  "(default: %(default)s)")
  ap.add_argument("--warmup", type=int, default=1,
                  help="untimed steps first (compilation) (default: "
                  "%(default)s)")
  ap.add_argument("--skip-trl", action="store_true",
                  help="time r1jax only (no torch/trl needed)")
  ap.add_argument("--skip-r1jax", action="store_true",
                  help="time TRL only")
  ap.add_argument("--completion_len", type=int, default=128,
                  help="sampled tokens per completion, forced (default: "
                  "%(default)s)")
  ap.add_argument("--attention", default="auto",
                  help="r1jax config.model.attention: auto | xla | "
                  "dot_product | chunked | splash (default: %(default)s)")
  ap.add_argument("--logits_chunk", type=int, default=0,
                  help="r1jax config.model.logits_chunk: positions per lm-head "
                  "chunk in the update, 0 = all at once (default: "
                  "%(default)s)")
  a = ap.parse_args()
  kw = dict(steps=a.steps, warmup=a.warmup, prompts=4, group=8,
            completion_len=a.completion_len, beta=0.04)
  cfg = CFG.replace(attention=a.attention, logits_chunk=a.logits_chunk,
                    max_seq_len=max(CFG.max_seq_len,
                                    PROMPT_LEN + a.completion_len))
  print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, "
        f"{os.cpu_count()} CPU cores")
  print(f"model: {CFG.num_params() / 1e6:.1f}M params; {kw['prompts']} "
        f"prompts x G={kw['group']}, prompt {PROMPT_LEN}, completion "
        f"{kw['completion_len']} (forced), beta {kw['beta']}, fp32; median of "
        f"{a.steps} steps after {a.warmup} warmup; r1jax attention "
        f"{cfg.attention!r}, logits_chunk {cfg.logits_chunk}")
  print("load average (1/5/15 min): %.2f %.2f %.2f" % os.getloadavg())
  mesh = shd.make_mesh((1, 1, 1), jax.devices()[:1])
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  theirs = ours = None
  if not a.skip_trl:
    with tempfile.TemporaryDirectory() as d:
      hf.save(d, cfg, params)
      save_tokenizer(d)
      theirs = trl_seconds_per_step(d, **kw)
    print(f"TRL GRPOTrainer: {theirs:.2f} s/step (load average now "
          f"{os.getloadavg()[0]:.2f})")
  if not a.skip_r1jax:
    print("load average before r1jax: %.2f" % os.getloadavg()[0])
    times = r1jax_seconds_per_step(params, cfg, **kw)
    ours = times["one_program"]
    flops = step_flops(CFG, kw["prompts"], kw["group"], kw["completion_len"],
                       kw["beta"])
    peak = matmul_peak()
    print(f"r1jax GRPO, one program (jnp reward): {ours:.2f} s/step")
    print(f"r1jax GRPO, two programs (Python reward between rollout and "
          f"update): {times['two_programs']:.2f} s/step")
    print(f"model FLOPs per step: {flops / 1e12:.3f} TFLOP; measured matmul "
          f"peak {peak / 1e9:.0f} GFLOP/s; MFU {flops / ours / peak:.1%}")
  if theirs is not None and ours is not None:
    print(f"speedup_vs_trl={theirs / ours:.2f}")


if __name__ == "__main__":
  main()
