"""Shared config helpers: `parse_arg` variants and common blocks."""

from __future__ import annotations

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """`"a,b=2"` -> {a: True, b: 2} over `defaults` (big_vision style)."""
  out = ml_collections.ConfigDict(defaults)
  for item in (arg or "").split(","):
    if not item:
      continue
    key, _, value = item.partition("=")
    if key not in defaults and not value:
      # A bare word selects the first string default ("variant").
      str_keys = [k for k, v in defaults.items() if isinstance(v, str)]
      if not str_keys:
        raise ValueError(f"config arg {item!r}: no variant field to set")
      out[str_keys[0]] = key
      continue
    if key not in defaults:
      raise ValueError(f"config arg {key!r} is unknown; known: "
                       f"{sorted(defaults)}")
    kind = type(defaults[key])
    out[key] = (value.lower() in ("1", "true", "yes", "")
                if kind is bool else kind(value))
  return out


def model_block(preset: str = "tiny", hf_dir: str = "") -> ml_collections.ConfigDict:
  """Which model to build or load."""
  c = ml_collections.ConfigDict()
  # Hugging Face model directory (config.json + safetensors). Empty: a
  # randomly initialised `preset` (r1jax.models.presets).
  c.hf_dir = hf_dir
  c.preset = preset
  # Parameter storage and compute dtypes (bfloat16 compute on accelerators).
  c.param_dtype = "float32"
  c.dtype = "float32"
  # Rematerialisation of each layer: none | full | save_dots.
  c.remat = "none"
  # Attention for training/prefill: auto | xla | dot_product | chunked |
  # splash (r1jax/models/attention.py); auto = dot_product on GPU (cuDNN
  # flash), splash on TPU, xla on CPU.
  c.attention = "auto"
  # Query/key block size of attention="chunked" (online softmax).
  c.attention_chunk = 512
  # Learner log-prob/entropy/NLL over the vocabulary this many positions
  # (of every row) at a time: no full [rows, M, V] float32 logits; 0 = all
  # at once (r1jax/losses/chunked.py).
  c.logits_chunk = 0
  return c


def mesh_block() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Sizes of the ('data', 'fsdp', 'tensor') mesh axes; -1 = the rest.
  c.shape = (1, -1, 1)
  # Logical-axis -> mesh-axis rules, e.g. (("embed", "fsdp"), ...); empty =
  # r1jax.sharding.DEFAULT_RULES.
  c.rules = ()
  return c


def optim_block(lr: float, warmup_steps: int = 0,
                schedule: str = "cosine") -> ml_collections.ConfigDict:
  """AdamW with warmup and a decay schedule, clipped by global norm."""
  c = ml_collections.ConfigDict()
  c.lr = lr
  # Linear warmup over this many optimizer updates.
  c.warmup_steps = warmup_steps
  # cosine | linear (decay to final_lr_fraction x lr) | constant.
  c.schedule = schedule
  # R1 SFT: cosine decay to 0.1x [R1v2 B.4.2].
  c.final_lr_fraction = 0.1
  c.b1 = 0.9
  c.b2 = 0.95
  c.eps = 1e-8
  # Decoupled weight decay on matrices only (not norms or biases).
  c.weight_decay = 0.1
  # Clip by global gradient norm; 0 = off.
  c.clip_norm = 1.0
  return c


def eval_block() -> ml_collections.ConfigDict:
  """Held-out evaluation: pass@1 over k samples and cons@k."""
  c = ml_collections.ConfigDict()
  # Evaluate every N steps (and at the start and the end); 0 = only those.
  c.every = 0
  c.num_prompts = 64
  # k samples per prompt [R1: 16 for MATH, 64 for AIME].
  c.k = 8
  # [R1v1 3]: temperature 0.6, top-p 0.95.
  c.temperature = 0.6
  c.top_p = 0.95
  c.max_new_tokens = 0  # 0 = config.rl.max_new_tokens
  # Prompts sampled together (x k rows); 0 = one rollout chunk's prompts
  # (config.rl.num_prompts / config.rl.rollout_chunks).
  c.batch_prompts = 0
  return c


def log_block() -> ml_collections.ConfigDict:
  """Metrics and samples. Timing metrics in metrics.jsonl (seconds):
  time/step_s from one finished step to the next, evals and checkpoints
  excluded (time/tokens_per_s, time/model_tflops derive from it);
  time/eval_s on eval rows; time/checkpoint_s (saving since the previous
  row) on the next row."""
  c = ml_collections.ConfigDict()
  # Metrics every N steps (TensorBoard, metrics.jsonl, logging).
  c.every = 1
  # Decoded sample completions written every N steps; 0 = never.
  c.samples_every = 10
  c.num_samples = 4
  # Abort after this many consecutive skipped (non-finite) updates.
  c.max_bad_steps = 5
  return c


def checkpoint_block() -> ml_collections.ConfigDict:
  """When the loop saves; it always saves at the end and on SIGTERM/SIGINT
  (Ctrl-C), and a rerun of the same command resumes from the last save."""
  c = ml_collections.ConfigDict()
  # Save every N steps (units: steps, i.e. config.steps). 0 = auto:
  # min(100, max(1, config.steps // 10)), so even a short run saves about ten
  # times; -1 = only at the end (and on signals and `every_minutes`).
  c.every = 0
  # Also save when this many minutes (wall clock) have passed since the last
  # save; 0 = off. All processes agree on it (any process's timer counts).
  c.every_minutes = 30.0
  # How many of the latest checkpoints stay on disk.
  c.keep = 3
  # Export the final policy as a Hugging Face directory (workdir/hf).
  c.export_hf = False
  return c


def add_reward_model(c: ml_collections.ConfigDict, name: str, *,
                     weight: float = 0.0, span: str = "summary",
                     sources: str = "", start_step: int = 0) -> None:
  """Adds a reward model reward `name` to an RL config: its weight in
  config.rewards, its scope in config.reward_scope and its block in
  config.reward_models (the fields a user overrides on the command line).
  """
  c.rewards[name] = weight
  c.reward_scope[name] = dict(sources=sources, start_step=start_step)
  b = ml_collections.ConfigDict()
  # A `reward_model` stage workdir or a Hugging Face
  # `*ForSequenceClassification` directory (num_labels 1); it must share
  # the policy's tokenizer. "" = off (then the weight must be 0).
  b.init_from = ""
  # What the RM reads after the prompt: "summary" (the text after the last
  # </think>; R1's helpfulness RM) or "full" (R1's safety RM).
  b.span = span
  # Normalise scores with the reward_stats.json (mean, std) stored with
  # the model; False = raw scores.
  b.normalize = True
  # RM forwards per RL step over row chunks (memory: the RM's attention
  # temporaries shrink by this factor; must divide the rollout rows).
  b.chunks = 1
  c.reward_models[name] = b


def judge_block() -> ml_collections.ConfigDict:
  """The frozen generative judge (`generate`'s `judge` filter; the RL
  `judge` reward, configlib.add_judge)."""
  b = ml_collections.ConfigDict()
  # A Hugging Face model directory or an r1jax workdir.
  b.init_from = ""
  # "verdict" (Verdict: correct | incorrect -> 1 | 0), "score" (Score: N
  # of 1-10 -> [0, 1]) or a text holding {question}, {reference} and
  # {response} once each (r1jax/rewards/judge.py).
  b.template = "verdict"
  # How a user template's completion is read: verdict | score.
  b.parse = ""
  # What of each sample the judge sees: "summary" (after </think>, R1's
  # practice for its reward models) or "full".
  b.span = "summary"
  # "auto": the prompt inside the judge tokenizer's chat template when it
  # ships one (instruct judges); "none": the bare template text.
  b.chat = "auto"
  # Greedy tokens the judge writes: enough for the verdict line.
  b.max_new_tokens = 16
  # Rows per compiled judge call, over all devices.
  b.batch_rows = 16
  # Weights and compute dtype; empty = config.model.dtype.
  b.dtype = ""
  return b


def add_judge(c: ml_collections.ConfigDict, *, weight: float = 0.0,
              sources: str = "", start_step: int = 0) -> None:
  """Adds the `judge` reward to an RL config: config.rewards.judge,
  config.reward_scope.judge and config.judge (the judge_block fields, and
  the reference answer's width). Its value is the verdict (1 / 0) or the
  normalised score; an unparseable verdict is left out of the reward
  (masked, counted in reward/judge/unparsed), never scored 0."""
  c.rewards.judge = weight
  c.reward_scope.judge = dict(sources=sources, start_step=start_step)
  c.judge = judge_block()
  # Tokens of the reference answer the judge is shown (longer ones lose
  # their start).
  c.judge.reference_tokens = 64
