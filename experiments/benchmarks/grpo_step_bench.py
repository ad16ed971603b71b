r"""Wall time per GRPO step: r1jax vs TRL's GRPOTrainer, same weights.

  pip install -e ".[bench]" && python experiments/benchmarks/grpo_step_bench.py

One step = one rollout batch and one optimizer update: 4 prompts (64 tokens
each) x G=8 completions = 32 completions of EXACTLY 128 sampled tokens (EOS
suppressed, temperature 1.0), a random reward, group-normalised advantages, a
reference-model forward for the KL term (beta 0.04), and one AdamW update on
all 32 completions (num_iterations 1, no gradient accumulation). Same
Qwen2-shaped model as sampler_bench.py (hidden 512, 8 layers, 8 heads / 2 KV
heads, MLP 1408, vocab 32000, tied embeddings), float32: r1jax on this
machine's default JAX backend, TRL on torch CPU (no vLLM). Both sides start
from the same r1jax init (seed 0), exported with r1jax.models.hf.save; the
tokenizer is a made-up offline word-level one over the 32000 ids. Reports the
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

import jax
import numpy as np

from r1jax import sharding as shd
from r1jax.models import ModelConfig, hf, init_params

CFG = ModelConfig(vocab_size=32000, num_layers=8, embed_dim=512, num_heads=8,
                  num_kv_heads=2, head_dim=64, mlp_dim=1408, qkv_bias=True,
                  tie_embeddings=True, rope_theta=1e6, family="qwen2",
                  max_seq_len=4096)
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


def r1jax_seconds_per_step(params, cfg: ModelConfig, *, steps: int,
                           warmup: int, prompts: int = 4, group: int = 8,
                           completion_len: int = 128,
                           beta: float = 0.04) -> float:
  """Median wall seconds per r1jax GRPO step (same workload as TRL's)."""
  raise NotImplementedError("lead fills this in")


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--steps", type=int, default=3)
  ap.add_argument("--warmup", type=int, default=1)
  ap.add_argument("--skip-trl", action="store_true")
  ap.add_argument("--skip-r1jax", action="store_true")
  a = ap.parse_args()
  kw = dict(steps=a.steps, warmup=a.warmup, prompts=4, group=8,
            completion_len=128, beta=0.04)
  print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, "
        f"{os.cpu_count()} CPU cores")
  print(f"model: {CFG.num_params() / 1e6:.1f}M params; {kw['prompts']} "
        f"prompts x G={kw['group']}, prompt {PROMPT_LEN}, completion "
        f"{kw['completion_len']} (forced), beta {kw['beta']}, fp32; median of "
        f"{a.steps} steps after {a.warmup} warmup")
  print("load average (1/5/15 min): %.2f %.2f %.2f" % os.getloadavg())
  mesh = shd.make_mesh((1, 1, 1), jax.devices()[:1])
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  theirs = ours = None
  if not a.skip_trl:
    with tempfile.TemporaryDirectory() as d:
      hf.save(d, CFG, params)
      save_tokenizer(d)
      theirs = trl_seconds_per_step(d, **kw)
    print(f"TRL GRPOTrainer: {theirs:.2f} s/step (load average now "
          f"{os.getloadavg()[0]:.2f})")
  if not a.skip_r1jax:
    ours = r1jax_seconds_per_step(params, CFG, **kw)
    print(f"r1jax GRPO: {ours:.2f} s/step")
  if theirs is not None and ours is not None:
    print(f"speedup_vs_trl={theirs / ours:.2f}")


if __name__ == "__main__":
  main()
