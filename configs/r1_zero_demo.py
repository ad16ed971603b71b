r"""The R1-Zero demo on a CPU: a pipeline that pretrains a tiny base model,
runs R1-Zero GRPO from it, and scores both on the same held-out problems.

  python -m r1jax.main --config=configs/r1_zero_demo.py --workdir=/tmp/demo
  # Shorter (the test's settings), or another seed / more RL steps:
  python -m r1jax.main --config=configs/r1_zero_demo.py:short \
      --workdir=/tmp/demo_short
  python -m r1jax.main --config=configs/r1_zero_demo.py --workdir=/tmp/d1 \
      --config.seed=1 --config.stages.rl.steps=60
  # Several seeds in one table and plot:
  python experiments/pipeline_seeds.py --out=/tmp/demo_seeds \
      --bench=arithmetic /tmp/demo /tmp/d1

Stages (r1jax/trainers/pipeline.py), each in WORKDIR/<name>:
  base       `pretrain` (a configs/sft.py config) on the `r1_zero_base`
             corpus, with a SentencePiece tokenizer trained on it;
  rl         `grpo` (a configs/r1_zero.py config) from @base: the R1-Zero
             template, accuracy + format rewards; WORKDIR/rl/curves.png;
  eval/base, eval/rl  `eval` (configs/eval.py, config.evaluate) of each
             model on the same held-out problems: pass@1 over k samples at
             T 0.6 / top-p 0.95, cons@k, format, length, reflective words.
WORKDIR/results.json and results.md gather both evaluations, with RL's
paired gain over the base. A rerun skips finished stages; a changed field
reruns that stage and the ones after it (e.g. --config.stages.rl.steps=60
keeps the base). The task knobs (`config.task`) and `config.seed` feed
every stage; each is a reference, so setting it sets all.
`experiments/demo_styles.py` sorts both models' answers by style.

Sources: [R1v1] template, rule-based accuracy + format rewards, eval at
T=0.6 / top-p 0.95 with pass@1 over k and cons@k; [R1v2] R1-Zero's KL
coefficient 0.001 and rollout temperature 1. Everything sized for two CPU
cores (model, corpus, steps, batch, lengths) is our choice, tuned so the
whole command takes about 10 minutes; see the README for measured numbers.
"""

import ml_collections

from configs import eval as eval_config
from configs import r1_zero
from configs import sft
from r1jax import configlib
from r1jax.trainers import pipeline

# The held-out problems: stream 1 of the task (data.eval_seed of RL, the
# eval's task_seed), left out of the pretraining corpus.
EVAL_SEED = 1
BENCH = "arithmetic"


def _base():
  """PRETRAINING: configs/sft.py with these overrides (ours)."""
  p = sft.get_config("tiny")
  p.stage = "pretrain"
  # Templated problems with imperfect worked solutions
  # (r1jax.data.corpora.r1_zero_base).
  p.data.corpus = "r1_zero_base"
  # The corpus mix (r1jax.data.corpora.r1_zero_base); ours: fractions of
  # direct answers and of untagged answers; per-step slip rate of worked
  # solutions and how often a step is checked after a slip / otherwise.
  p.data.corpus_kwargs = ml_collections.ConfigDict(dict(
      num_docs=8000, seed=100, p_direct=0.3, p_untagged=0.3, p_slip=0.1,
      p_fix=0.5, p_check=0.15, exclude_seed=EVAL_SEED, exclude_count=0))
  # TOKENIZER trained on the corpus into WORKDIR/base (SentencePiece BPE,
  # digits split, tags single pieces). Pieces may span spaces and
  # punctuation, so the verbatim R1-Zero template costs ~40 tokens, not
  # ~100 (fewer tokens: faster on a CPU); ours.
  p.vocab_size = 768
  p.tokenizer_options = ml_collections.ConfigDict(dict(
      split_by_whitespace=False, split_by_unicode_script=False,
      max_sentencepiece_length=64))
  # 8 packed rows of 256 tokens (about 4 documents each) per optimizer
  # update.
  p.data.batch_size = 8
  p.data.seq_len = 256
  # A ~0.9M-parameter Qwen2-shaped model: preset `small` (4M) narrowed
  # (ModelConfig fields in model.overrides); ours.
  p.model.preset = "small"
  p.model.overrides = ml_collections.ConfigDict(dict(
      num_layers=4, embed_dim=128, num_heads=4, num_kv_heads=2,
      head_dim=32, mlp_dim=384, max_seq_len=512))
  p.model.overrides.vocab_size = p.get_ref("vocab_size")
  # AdamW, cosine to 0.1x; 1000 optimizer updates (~2 epochs) lift the
  # worked-solution accuracy to ~0.8 (600: ~0.3; 6e-3 or higher lr:
  # worse); ours.
  p.optim.lr = 3e-3
  p.optim.warmup_steps = 50
  p.optim.weight_decay = 0.0
  p.steps = 1000
  p.log.every = 10
  # Only the final checkpoint (what later stages start from).
  p.checkpoint.every = -1
  p.checkpoint.keep = 1
  return p


def _rl():
  """R1-ZERO GRPO: configs/r1_zero.py with these overrides (ours unless
  cited). The R1-Zero template, accuracy + format rewards with equal
  weights and the grpo loss preset are configs/r1_zero.py's [R1v1]."""
  g = r1_zero.get_config("tiny")
  g.init_from = "@base"
  g.tokenizer = ""  # the base's
  g.data.task = BENCH
  g.data.task_kwargs = ml_collections.ConfigDict()
  # Training prompts: stream 0 of the task; the held-out stream is the
  # eval's (config.evaluate).
  g.data.seed = 0
  g.data.eval_seed = EVAL_SEED
  # Templated prompts are <= 40 tokens with this tokenizer.
  g.max_prompt_len = 48
  # 16 prompts x 8 samples per rollout, one optimizer update per rollout
  # (R1-Zero: 32 x 16 [R1v2]).
  g.rl.num_prompts = 16
  g.rl.group_size = 8
  # The corpus's longest response (3 checked steps) is 62 tokens.
  g.rl.max_new_tokens = 64
  # Rollout temperature [R1v2: 1.0].
  g.rl.temperature = 1.0
  # R1-Zero's KL coefficient [R1v2]; the grpo preset's is DeepSeekMath's.
  g.loss.beta = 0.001
  # Far above R1-Zero's 3e-6 [R1v2]: a tiny model and 40 steps; ours.
  g.optim.lr = 1e-4
  # Rollouts (= optimizer updates).
  g.steps = 40
  # Held-out scoring is the pipeline's config.evaluate, before and after.
  # For a held-out curve during RL as well:
  # --config.stages.rl.eval.num_prompts=128 --config.stages.rl.eval.every=10
  g.eval.num_prompts = 0
  g.eval.k = 8
  # Decoded rollouts into WORKDIR/rl/samples.jsonl every 5 steps.
  g.log.samples_every = 5
  g.checkpoint.every = -1
  g.checkpoint.keep = 1
  return g


def _evaluate():
  """Held-out: 128 problems x k=8 at T=0.6 / top-p 0.95 [R1v1 3], in the
  R1-Zero template both models were trained with."""
  e = eval_config.get_config(f"{BENCH},n=8,max_new_tokens=64")
  e.model.dtype = e.model.param_dtype = "float32"
  e.batch_rows = 128
  b = e.evals[BENCH]
  b.task_seed = EVAL_SEED
  b.task_count = 128
  return e


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="cpu", runlocal=False)
  c = pipeline.make_config({"base": _base(), "rl": _rl()}, _evaluate(),
                           evaluate_after=("base", "rl"))
  p, g, e = c.stages.base, c.stages.rl, c.evaluate
  b = e.evals[BENCH]
  # Seed of every stage (model init, data order, rollouts); ours. Each
  # stage's seed fields are references to it. The problem streams and the
  # evaluation's draws stay fixed: every seed is scored on the same
  # held-out problems.
  c.seed = 0
  for s in (p, g):
    s.seed = c.get_ref("seed")
  p.data.seed = c.get_ref("seed")

  # TASK shared by the pretraining corpus, the RL prompts and the
  # evaluation (r1jax.data.tasks.arithmetic), e.g. "Compute (3 + 2) * 3 /
  # 5."; ours: three chained + - * / (exact) operations on numbers 1-5,
  # learnable by a ~1M-parameter model in minutes, ~21K distinct problems.
  c.task = ml_collections.ConfigDict(dict(
      num_ops=3, max_operand=5, allow_division=True))
  for name in c.task:
    for k in (p.data.corpus_kwargs, g.data.task_kwargs, b.loader_kwargs):
      k[name] = c.task.get_ref(name)
  # The corpus leaves out the held-out problems.
  p.data.corpus_kwargs.exclude_count = b.get_ref("task_count")
  # The held-out answers get the rollouts' budget.
  b.max_new_tokens = g.rl.get_ref("max_new_tokens")

  if a.variant == "short" or a.runlocal:
    # The test's run (tests/trainers/demo_test.py), ~3 minutes: two
    # operations per problem, so a shorter pretraining gives a usable base.
    c.task.num_ops = 2
    p.data.batch_size = 4
    p.steps = 1000
    p.optim.lr = 2e-3
    g.steps = 40
    b.task_count = 64
  elif a.variant == "aha":
    _aha(c)
  elif a.variant != "cpu":
    raise ValueError(f"configs/r1_zero_demo.py: unknown variant "
                     f"{a.variant!r}; known: cpu, short, aha")
  return c


def _aha(c) -> None:
  """The aha corpus (r1jax/data/aha_corpus.py; issue 17): 2-3 operations;
  a fifth of all steps are misconceptions (always written wrong the same
  way) and other steps slip with probability 0.05; 25% of tagged worked
  solutions check every step by the inverse operation (6% of the corpus),
  and 40% of the documents are drills that teach the check. Ours; the
  measured run is in the README ("Does RL discover checking?")."""
  p, g, b = c.stages.base, c.stages.rl, c.evaluate.evals[BENCH]
  c.task.min_ops = 2
  p.data.corpus = "r1_zero_aha"
  k = ml_collections.ConfigDict(dict(
      num_docs=8000, seed=100, p_direct=0.3, p_untagged=0.3, p_slip=0.05,
      p_careful=0.25, p_drill=0.4, p_misconception=0.2, check="inverse"))
  for name in c.task:
    k[name] = c.task.get_ref(name)
  k.exclude_seed = EVAL_SEED
  k.exclude_count = b.get_ref("task_count")
  p.data.corpus_kwargs = k
  # Longer pretraining: the checks and drills are more to learn.
  p.steps = 1500
  g.data.task_kwargs.min_ops = c.task.get_ref("min_ops")
  b.loader_kwargs.min_ops = c.task.get_ref("min_ops")
  # A careful 3-step solution is ~50 tokens.
  g.rl.max_new_tokens = 128
  g.optim.lr = 2e-4
  g.steps = 80


def phases(c, workdir: str):
  """(base, rl, evaluate) of a demo config as the pipeline runs them in
  `workdir`: references resolved, "@base" -> WORKDIR/base (for the
  experiments that reuse the demo's stages)."""
  return tuple(pipeline.resolve(s, workdir)
               for s in (c.stages.base, c.stages.rl, c.evaluate))
