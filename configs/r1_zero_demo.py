r"""The R1-Zero demo on a CPU: pretrain a tiny base model, then GRPO.

  python -m r1jax.main --config=configs/r1_zero_demo.py --workdir=/tmp/demo
  # Shorter (the test's settings), or another seed / more RL steps:
  python -m r1jax.main --config=configs/r1_zero_demo.py:short \
      --workdir=/tmp/demo_short
  python -m r1jax.main --config=configs/r1_zero_demo.py --workdir=/tmp/d1 \
      --config.seed=1 --config.grpo.steps=60

Stage `r1_zero_demo` (r1jax/trainers/demo.py): pretrains a base model on
the `r1_zero_base` corpus into WORKDIR/base (reused when its final
checkpoint exists), runs R1-Zero GRPO from it into WORKDIR/rl, and writes
WORKDIR/results.json and PNG curves. `config.pretrain` is a
configs/sft.py config and `config.grpo` a configs/r1_zero.py config; every
field of either can be set from the command line, e.g.
`--config.pretrain.steps=400 --config.grpo.rl.group_size=16`. The task
knobs (`config.task`) and `config.seed` feed both.

Sources: [R1v1] template, rule-based accuracy + format rewards, eval at
T=0.6 / top-p 0.95 with pass@1 over k and cons@k; [R1v2] R1-Zero's KL
coefficient 0.001 and rollout temperature 1. Everything sized for two CPU
cores (model, corpus, steps, batch, lengths) is our choice, tuned so the
whole command takes about 10 minutes; see the README for measured numbers.
"""

import ml_collections

from configs import r1_zero
from configs import sft
from r1jax import configlib


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="cpu", runlocal=False)
  c = ml_collections.ConfigDict()
  c.stage = "r1_zero_demo"
  # Seed of both phases (model init, data order, rollouts); ours. The
  # phases' seed fields are references to it: setting any sets all.
  c.seed = 0
  # A workdir whose cached base model (WORKDIR/base) or RL run (WORKDIR/rl)
  # was made with other values of fields that change results stops before
  # running, naming them (r1jax/runinfo.py). auto | force (reuse and
  # continue anyway; the change is recorded in each one's history.jsonl).
  c.resume = "auto"

  # TASK shared by the pretraining corpus and the RL prompts
  # (r1jax.data.tasks.arithmetic), e.g. "Compute (3 + 2) * 3 / 5."; ours:
  # three chained + - * / (exact) operations on numbers 1-5, learnable by
  # a ~1M-parameter model in minutes, and with ~21K distinct problems.
  c.task = ml_collections.ConfigDict()
  c.task.num_ops = 3
  c.task.max_operand = 5
  c.task.allow_division = True

  # TOKENIZER trained on the corpus into WORKDIR/base (SentencePiece BPE,
  # digits split, tags single pieces). Pieces may span spaces and
  # punctuation, so the verbatim R1-Zero template costs ~40 tokens, not
  # ~100 (fewer tokens: faster on a CPU); ours.
  c.tokenizer = ml_collections.ConfigDict()
  c.tokenizer.vocab_size = 768
  c.tokenizer.split_by_whitespace = False
  c.tokenizer.split_by_unicode_script = False
  c.tokenizer.max_sentencepiece_length = 64

  # PRETRAINING: configs/sft.py with these overrides (ours).
  p = sft.get_config("tiny")
  p.stage = "pretrain"
  p.seed = c.get_ref("seed")
  p.data.seed = c.get_ref("seed")
  # Templated problems with imperfect worked solutions
  # (r1jax.data.corpora.r1_zero_base).
  p.data.corpus = "r1_zero_base"
  # The corpus mix (r1jax.data.corpora.r1_zero_base); ours: fractions of
  # direct answers and of untagged answers; per-step slip rate of worked
  # solutions and how often a step is checked after a slip / otherwise.
  p.data.corpus_kwargs = ml_collections.ConfigDict(dict(
      num_docs=8000, seed=100, p_direct=0.3, p_untagged=0.3, p_slip=0.1,
      p_fix=0.5, p_check=0.15, exclude_seed=-1, exclude_count=0))
  p.data.corpus_kwargs.num_ops = c.task.get_ref("num_ops")
  p.data.corpus_kwargs.max_operand = c.task.get_ref("max_operand")
  p.data.corpus_kwargs.allow_division = c.task.get_ref("allow_division")
  # 8 packed rows of 256 tokens (about 4 documents each).
  p.data.batch_size = 8
  p.data.seq_len = 256
  # A ~0.9M-parameter Qwen2-shaped model: preset `small` (4M) narrowed
  # (ModelConfig fields in model.overrides); ours.
  p.model.preset = "small"
  p.model.overrides = ml_collections.ConfigDict(dict(
      num_layers=4, embed_dim=128, num_heads=4, num_kv_heads=2,
      head_dim=32, mlp_dim=384, max_seq_len=512))
  p.model.overrides.vocab_size = c.tokenizer.get_ref("vocab_size")
  # AdamW, cosine to 0.1x; 1000 steps (~2 epochs) lift the worked-solution
  # accuracy to ~0.8 (600 steps: ~0.3; 6e-3 or higher lr: worse); ours.
  p.optim.lr = 3e-3
  p.optim.warmup_steps = 50
  p.optim.weight_decay = 0.0
  p.steps = 1000
  p.log.every = 10
  # Only the final checkpoint (the cache that later runs reuse).
  p.checkpoint.every = -1
  p.checkpoint.keep = 1
  c.pretrain = p

  # R1-ZERO GRPO: configs/r1_zero.py with these overrides (ours unless
  # cited); init_from is set to WORKDIR/base by the stage. The R1-Zero
  # template, accuracy + format rewards with equal weights and the grpo
  # loss preset are configs/r1_zero.py's [R1v1].
  g = r1_zero.get_config("tiny")
  g.seed = c.get_ref("seed")
  g.data.task = "arithmetic"
  g.data.task_kwargs = ml_collections.ConfigDict()
  g.data.task_kwargs.num_ops = c.task.get_ref("num_ops")
  g.data.task_kwargs.max_operand = c.task.get_ref("max_operand")
  g.data.task_kwargs.allow_division = c.task.get_ref("allow_division")
  # Training and held-out prompt streams; the corpus leaves out the
  # held-out problems (pretrain.data.corpus_kwargs.exclude_*).
  g.data.seed = 0
  g.data.eval_seed = 1
  # Templated prompts are <= 40 tokens with this tokenizer.
  g.max_prompt_len = 48
  # 16 prompts x 8 samples per step (R1-Zero: 32 x 16 [R1v2]).
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
  g.steps = 40
  # Held-out: 128 prompts x k=8 at T=0.6 / top-p 0.95 [R1v1 3].
  g.eval.num_prompts = 128
  g.eval.k = 8
  g.eval.every = 10
  # Decoded rollouts into WORKDIR/rl/samples.jsonl every 5 steps.
  g.log.samples_every = 5
  g.checkpoint.every = -1
  g.checkpoint.keep = 1
  c.grpo = g
  # The pretraining corpus leaves out the held-out problems.
  p.data.corpus_kwargs.exclude_seed = g.data.get_ref("eval_seed")
  p.data.corpus_kwargs.exclude_count = g.eval.get_ref("num_prompts")

  if a.variant == "short" or a.runlocal:
    # The test's run (tests/trainers/demo_test.py), ~3 minutes: two
    # operations per problem, so a shorter pretraining gives a usable base.
    c.task.num_ops = 2
    p.data.batch_size = 4
    p.steps = 1000
    p.optim.lr = 2e-3
    g.steps = 40
    g.eval.num_prompts = 64
    g.eval.every = 0
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
  and 40% of the documents are drills that teach the check. Ours; the measured run is in
  the README ("Does RL discover checking?")."""
  p, g = c.pretrain, c.grpo
  c.task.num_ops = 3
  c.task.min_ops = 2
  p.data.corpus = "r1_zero_aha"
  k = ml_collections.ConfigDict(dict(
      num_docs=8000, seed=100, p_direct=0.3, p_untagged=0.3, p_slip=0.05,
      p_careful=0.25, p_drill=0.4, p_misconception=0.2, check="inverse"))
  for name in ("num_ops", "min_ops", "max_operand", "allow_division"):
    k[name] = c.task.get_ref(name)
  k.exclude_seed = g.data.get_ref("eval_seed")
  k.exclude_count = g.eval.get_ref("num_prompts")
  p.data.corpus_kwargs = k
  # Longer pretraining: the checks and drills are more to learn.
  p.steps = 1500
  g.data.task_kwargs.min_ops = c.task.get_ref("min_ops")
  # A careful 3-step solution is ~50 tokens.
  g.rl.max_new_tokens = 128
  g.optim.lr = 2e-4
  g.steps = 80
  g.eval.every = 0
