r"""Code reasoning in miniature, on a CPU: a pipeline (pretrain -> GRPO ->
eval) on the synthetic code task, every program run in the sandbox.

  python -m r1jax.main --config=configs/code_demo.py --workdir=/tmp/code_demo

Stages (r1jax/trainers/pipeline.py), each in WORKDIR/<name>:
  base  pretraining of a ~1M-parameter model on worked code_fn solutions
        (r1jax.data.tasks.code_fn: "Write f(xs) ...: keep the values
        greater than 3, then reverse the list, then return the sum"), a
        step left out of the code in 30% of them;
  rl    R1-Zero GRPO from it: accuracy = every test of the problem passes
        in the sandbox (r1jax.rewards.code), plus the format reward;
  eval/base, eval/rl  held-out pass@1 (k samples at T 0.6 / top-p 0.95)
        on problems whose specifications the corpus and the RL stream never
        hold (code_fn's held-out pool, seed 1).
WORKDIR/results.md gathers the two evaluations.
"""

import ml_collections

from configs import eval as eval_config
from configs import r1_zero
from configs import sft
from r1jax import configlib
from r1jax.trainers import pipeline

# The task's knobs, shared by the corpus, the RL prompts and the eval (ours:
# two transforms then a final step, lists of up to 6 values in 0-9).
TASK = dict(num_ops=2, kind="list", max_value=9, max_len=6, num_tests=6)


def _base(a):
  p = sft.get_config("tiny")
  p.stage = "pretrain"
  p.seed = p.data.seed = 0
  p.data.corpus = "code_fn_base"
  # Worked solutions (ours): 8,000 problems of the training pool (seed 100;
  # the held-out specifications are never drawn), a step left out of the
  # code with probability p_bug.
  p.data.corpus_kwargs = ml_collections.ConfigDict(dict(
      num_docs=8000, seed=100, p_bug=0.3, **TASK))
  # A tokenizer trained on the corpus: pieces may span spaces, newlines
  # and punctuation (code's indentation is a few pieces).
  p.vocab_size = 768
  p.tokenizer_options = ml_collections.ConfigDict(dict(
      split_by_whitespace=False, split_by_unicode_script=False,
      max_sentencepiece_length=64))
  # 8 packed rows of 256 tokens per optimizer update.
  p.data.batch_size = 8
  p.data.seq_len = 256
  # The R1-Zero demo's ~0.9M-parameter Qwen2-shaped model (ours).
  p.model.preset = "small"
  p.model.overrides = ml_collections.ConfigDict(dict(
      num_layers=4, embed_dim=128, num_heads=4, num_kv_heads=2,
      head_dim=32, mlp_dim=384, max_seq_len=512, vocab_size=768))
  p.optim.lr = 3e-3
  p.optim.warmup_steps = 50
  p.optim.weight_decay = 0.0
  p.steps = a.pretrain_steps  # optimizer updates
  p.log.every = 10
  p.checkpoint.every = -1
  p.checkpoint.keep = 1
  return p


def _rl(a):
  g = r1_zero.get_config("tiny")
  g.seed = 0
  g.init_from = "@base"
  g.data.task = "code_fn"
  g.data.task_kwargs = ml_collections.ConfigDict(TASK)
  # Training stream seed 0; held-out prompts seed 1 = the task's held-out
  # pool (code_fn.held_out_seed): new specifications, not new inputs.
  g.data.seed, g.data.eval_seed = 0, 1
  g.max_prompt_len = 64
  # Programs run on the host, in the sandbox: two compiled programs
  # (sample, then update) around the host rewards.
  g.rl.host_rewards = True
  g.reward_options.accuracy.num_workers = 2
  # 16 prompts x 8 samples per rollout, one optimizer update per rollout.
  g.rl.num_prompts = 16
  g.rl.group_size = 8
  # Worked solutions are ~36 tokens with this tokenizer.
  g.rl.max_new_tokens = 64
  g.rl.temperature = 1.0  # [R1v2]
  g.loss.beta = 0.001  # [R1v2]
  g.optim.lr = a.rl_lr  # ours (tiny model, few steps)
  g.steps = a.rl_steps  # rollouts = optimizer updates
  g.eval.num_prompts = 0  # the eval stages below score both models alike
  g.log.samples_every = 5
  g.checkpoint.every = -1
  g.checkpoint.keep = 1
  return g


def _eval(a):
  e = eval_config.get_config(f"code_fn,n={a.k},max_new_tokens=64,"
                             "batch_rows=128")
  e.model.dtype = e.model.param_dtype = "float32"
  t = e.evals.code_fn
  t.loader_kwargs.update(TASK)
  t.task_seed = 1  # the held-out pool
  t.task_count = a.heldout
  return e


# Sizes per variant (ours): pretraining optimizer updates, RL rollouts (one
# update each), the RL learning rate, held-out problems, samples each.
VARIANTS = {
    "cpu": dict(pretrain_steps=1000, rl_steps=40, rl_lr=1e-4, heldout=128,
                k=8),
    # The test's run (tests/trainers/code_demo_test.py): 450 updates are
    # past the base's jump (README: 300 -> 0.32, 450 -> 0.81-0.89).
    "short": dict(pretrain_steps=450, rl_steps=20, rl_lr=2e-4, heldout=64,
                  k=8),
}


def get_config(arg=None):
  variant = configlib.parse_arg(arg, variant="cpu",
                                **VARIANTS["cpu"]).variant
  if variant not in VARIANTS:
    raise ValueError(f"configs/code_demo.py: unknown variant {variant!r}; "
                     f"known: {sorted(VARIANTS)}")
  a = configlib.parse_arg(arg, variant=variant, **VARIANTS[variant])
  return pipeline.make_config({"base": _base(a), "rl": _rl(a)}, _eval(a),
                              evaluate_after=("base", "rl"))
