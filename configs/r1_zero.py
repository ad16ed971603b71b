r"""R1-Zero: GRPO straight from a base model with rule-based rewards.

  # CPU smoke run on a synthetic task (random base model; see :demo).
  python -m r1jax.main --config=configs/r1_zero.py:tiny --workdir=/tmp/rz
  # Ablate from the command line, e.g. the DAPO loss without format reward:
  python -m r1jax.main --config=configs/r1_zero.py:tiny \
      --config.loss.preset=dapo --config.rewards.format=0 --workdir=/tmp/rz2
  # From a pretrained workdir or a Hugging Face directory:
  python -m r1jax.main --config=configs/r1_zero.py:tiny \
      --config.init_from=/tmp/base --workdir=/tmp/rz3
  # On-policy distillation from a teacher with the same tokenizer (all
  # reward weights 0: pure distillation; else rewards + distillation):
  python -m r1jax.main --config=configs/r1_zero.py:tiny \
      --config.init_from=/tmp/base --config.distill.teacher=/tmp/big \
      --config.distill.coef=1.0 --workdir=/tmp/rz4

Sources: [R1] DeepSeek-R1 (v1 2025, v2 Nature) and DeepSeekMath for GRPO;
[DAPO], [Dr.GRPO], [GSPO] for the presets (r1jax.losses.grpo.PRESETS);
[GKD] Agarwal et al. 2024 and Thinking Machines' "On-Policy Distillation"
(2025) for config.distill.
"""

import ml_collections
from ml_collections import config_dict

from r1jax import configlib
from r1jax.rewards import total as reward_total


def loss_block(preset: str = "grpo") -> ml_collections.ConfigDict:
  """The GRPO loss by preset; every field left unset takes the preset's
  value (r1jax.losses.grpo.PRESETS), any field set here wins."""
  c = ml_collections.ConfigDict()
  # grpo [R1] | dr_grpo | dapo | gspo | bnpo.
  c.preset = preset
  ph = config_dict.placeholder
  # token | sequence (GSPO) | sequence_token (GSPO-token).
  c.ratio_level = ph(str)
  # Clip range [1 - eps_low, 1 + eps_high]. GRPO/DeepSeekMath: 0.2. R1v2
  # gives epsilon = 10 for R1's stage-1 reasoning RL only (a config of the
  # R1 pipeline); R1-Zero's epsilon is not published, so R1-Zero keeps the
  # GRPO preset's 0.2. DAPO clip-higher: eps_high 0.28.
  c.eps_low = ph(float)
  c.eps_high = ph(float)
  # Dual-clip constant c > 1 for negative advantages; 0 = off.
  c.dual_clip = ph(float)
  # seq_mean [R1] | token_mean [DAPO] | constant [Dr.GRPO] |
  # local_token_mean [BNPO; depends on micro-batch size].
  c.aggregation = ph(str)
  # L_max of the constant normaliser; 0 (or unset) = config.rl.max_new_tokens.
  c.max_len = ph(int)
  # group_std [R1] | group [Dr.GRPO] | batch_std | rloo | none.
  c.advantage = ph(str)
  c.adv_eps = ph(float)
  # KL coefficient: R1-Zero 0.001 [R1v2], DeepSeekMath 0.04; 0 skips the
  # reference model entirely.
  c.beta = ph(float)
  # k1 | k2 | k3 [R1: k3, in the loss].
  c.kl_estimator = ph(str)
  c.kl_in_reward = ph(bool)
  # Truncated importance sampling cap: token loss x min(pi_old / mu, cap),
  # mu the distribution the rollout drew from (after top-p/top-k/min-p
  # truncation, from the sampler's compute dtype); 0 = off.
  c.tis_cap = ph(float)
  return c


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="tiny", runlocal=False)
  c = ml_collections.ConfigDict()
  c.stage = "grpo"
  c.seed = 0
  # A workdir that holds a run is continued only by the config that started
  # it (the fields that change results, r1jax/runinfo.py); any other stops
  # before running, naming the fields. auto | force (continue anyway and
  # record the change in workdir/history.jsonl).
  c.resume = "auto"
  c.model = configlib.model_block(preset="tiny")
  # A Hugging Face directory or an r1jax workdir to start from (its
  # latest checkpoint's params); empty = config.model.
  c.init_from = ""
  c.tokenizer = ""
  c.mesh = configlib.mesh_block()

  # DATA: a synthetic task (device rewards) or a JSONL of {prompt, answer}.
  c.data = ml_collections.ConfigDict()
  # r1jax.data.tasks name (arithmetic, countdown, multilingual_arithmetic).
  c.data.task = "arithmetic"
  # Task difficulty knobs, e.g. {"num_ops": 2, "max_operand": 20}.
  c.data.task_kwargs = ml_collections.ConfigDict({"num_ops": 2})
  # JSONL of {"prompt", "answer"} instead of a task (host rewards), or a
  # benchmark file read by r1jax.data.benchmarks when `format` names it
  # (gsm8k, math500, aime2024, gpqa_diamond).
  c.data.train_file = ""
  c.data.format = ""
  c.data.eval_file = ""
  c.data.eval_format = ""
  # Seeds of the training and held-out prompt streams (disjoint streams).
  c.data.seed = 0
  c.data.eval_seed = 1
  # Prompt template: r1_zero [R1v1 Table 1] | r1_chat | r1_chat_math |
  # plain | chat | chat_math (chat: the model's own chat_template from its
  # tokenizer_config.json, rendered as transformers does). Whether the
  # prompt already opens <think> follows from the rendered template.
  c.template = "r1_zero"
  # chat templates: an optional system prompt [R1 README: none] and text
  # appended after the generation prompt [R1 README: "<think>\n"].
  c.system_prompt = ""
  c.prefill = ""
  # Prompts are left-padded to this many tokens; every training and
  # held-out prompt of a file is checked at start-up (longer: an error).
  c.max_prompt_len = 256

  # ROLLOUTS. Units: one `step` (config.steps) is one rollout; a rollout
  # of num_prompts x group_size samples is split into `minibatches`
  # optimizer updates per epoch, updates_per_batch epochs.
  c.rl = ml_collections.ConfigDict()
  # Unique prompts per rollout. R1-Zero [R1v2]: a rollout of 8,192 outputs
  # = 512 questions x 16, in 16 updates of 32 questions x 16 = 512 samples.
  c.rl.num_prompts = 8
  # G, samples per prompt [R1v2: 16].
  c.rl.group_size = 8
  # Completion budget in tokens [R1-Zero: 32768, later 65536].
  c.rl.max_new_tokens = 64
  # Rollout temperature [R1v2: 1.0], > 0; log-probs in the loss use the
  # same.
  c.rl.temperature = 1.0
  # Truncation in training rollouts needs tis_cap to stay unbiased.
  c.rl.top_p = 1.0
  c.rl.top_k = 0
  # Sampling stops at EOS and at these single-token strings.
  c.rl.stop_tokens = ("</answer>",)
  # mu: updates per rollout batch [R1v2: 1 epoch], each over
  # `minibatches` shuffled minibatches [R1v2: 16 per rollout].
  c.rl.updates_per_batch = 1
  c.rl.minibatches = 1
  # Gradient accumulation inside a minibatch (memory only; the loss is
  # the same for any value with global normalisers). Rows per micro-batch
  # must divide over the data-parallel devices.
  c.rl.microbatches = 1
  # The rollout is sampled in this many sequential chunks of prompts
  # (memory only: the KV cache holds one chunk). Same rows per chunk rule.
  c.rl.rollout_chunks = 1
  # DAPO dynamic sampling: sample oversample x num_prompts prompts and keep
  # the first num_prompts groups whose rewards are not all equal.
  c.rl.dynamic_sampling = False
  c.rl.oversample = 1
  # Exclude truncated completions from the loss [DAPO overlong filter].
  c.rl.mask_truncated = False
  # Reward assigned to truncated completions (None: computed as usual).
  c.rl.truncated_reward = config_dict.placeholder(float)
  # Replace the reference model by the policy every N OPTIMIZER UPDATES
  # [R1v2: 400] (a multiple of the updates per rollout, updates_per_batch
  # x minibatches; the refresh happens between rollouts); 0 = never.
  c.rl.ref_update_every = 400
  # Rewards on the host (math-verify, language, ...): two compiled
  # programs (rollout, update) instead of one. Device rewards need a task.
  c.rl.host_rewards = False
  # KV-cache dtype of the rollout: '' (the compute dtype) | float32 |
  # bfloat16 | float16.
  c.rl.cache_dtype = ""

  c.loss = loss_block("grpo")
  # ON-POLICY DISTILLATION [GKD; Thinking Machines]: a frozen teacher
  # scores the student's own rollouts in one forward pass, and coef x
  # (teacher logp - student logp) of each sampled token (both at
  # config.rl.temperature) is added to the row's group advantage in the
  # loss above. All reward weights 0: pure distillation.
  c.distill = ml_collections.ConfigDict()
  # A Hugging Face model directory or an r1jax workdir (its latest
  # checkpoint), read like config.init_from at every start (never
  # checkpointed). Must share the student's tokenizer; any size or
  # architecture. "" = no teacher.
  c.distill.teacher = ""
  # Per-token reverse-KL advantage weight; 0 = off (then teacher must be
  # ""); 1.0 = Thinking Machines' recipe. > 0 needs a teacher.
  c.distill.coef = 0.0

  # Reward weights (config.rewards.<name>) and options; R1-Zero: accuracy +
  # format [R1v1 2.2.2].
  c.rewards = reward_total.default_reward_config()
  # Options: their defaults are each reward function's signature.
  c.reward_options = reward_total.default_reward_options()
  # Rewards computed at weight 0 as metrics (a reward without a device
  # version is skipped on the device path).
  c.reward_report = ("accuracy", "format", "reflection")
  # Where each reward counts: `sources` = comma list of example `source`
  # values ("" = every prompt; R1's last stage: rule rewards for
  # "reasoning", reward models for "general"); `start_step` = first RL step
  # (rollouts) it counts at (R1: preference rewards from step 1,300 of
  # 1,700).
  c.reward_scope = reward_total.default_reward_scope()
  # Reward models as rewards, by name (configlib.add_reward_model adds
  # one: a weight, a scope and this block); none in R1-Zero [R1v1 2.2.2].
  c.reward_models = ml_collections.ConfigDict()

  # Units: warmup_steps counts optimizer updates.
  c.optim = configlib.optim_block(lr=1e-6, warmup_steps=0,
                                  schedule="constant")
  # Rollouts (each = updates_per_batch x minibatches optimizer updates).
  c.steps = 100

  # EVALUATION on held-out prompts: pass@1 over k samples and cons@k at the
  # paper's protocol (temperature 0.6, top-p 0.95) [R1v1 3].
  c.eval = configlib.eval_block()
  c.log = configlib.log_block()
  # Warn (once) when every group's rewards were equal for this many
  # consecutive steps: all advantages are 0 and GRPO learns nothing. The
  # count is the metric `no_signal_steps`. 0 = never warn.
  c.log.no_signal_steps = 5
  # WORKDIR/curves.png at the end of the run (also after a signal):
  # rewards, response length, reflection and held-out metrics against the
  # step (metrics.RL_CURVES; matplotlib).
  c.log.curves = True
  c.checkpoint = configlib.checkpoint_block()

  if a.variant == "tiny" or a.runlocal:
    # CPU minutes, ours. The task and template are those of the base model
    # `configs/sft.py:tiny` pretrains (the r1_zero_base corpus: 2 chained
    # operations on 1-5, R1-Zero template, held-out stream excluded), so
    # --config.init_from=<its workdir> answers some prompts right and
    # GRPO has signal; a random model (no init_from) answers none.
    c.data.task_kwargs = ml_collections.ConfigDict(
        {"num_ops": 2, "max_operand": 5})
    # A tokenizer trained here (random model): SentencePiece pieces may
    # span spaces, so the templated prompts stay within max_prompt_len.
    c.vocab_size = 768
    c.tokenizer_options = ml_collections.ConfigDict(dict(
        split_by_whitespace=False, split_by_unicode_script=False,
        max_sentencepiece_length=64))
    # Prompts are padded to this: 48 is 4x cheaper per step than 256.
    c.max_prompt_len = 48
    c.rl.num_prompts = 16
    c.loss.beta = 0.001  # R1-Zero's [R1v2]
    c.optim.lr = 1e-4
    c.steps = 20
  elif a.variant in ACCELERATOR:
    accelerator_recipe(c, a.variant)
  else:
    raise ValueError(f"configs/r1_zero.py: unknown variant {a.variant!r}; "
                     f"known: tiny, {', '.join(ACCELERATOR)}")
  return c


# Qwen2.5 base checkpoints on GSM8K / MATH with math-verify rewards:
# completion budget (max_new_tokens). The memory knobs are this budget,
# config.rl.microbatches (learner) and config.rl.rollout_chunks (sampler).
ACCELERATOR = {"qwen2.5-0.5b": 1024, "qwen2.5-1.5b": 2048}

# [R1v2 2.1] R1-Zero's batch, per OPTIMIZER UPDATE and per ROLLOUT.
PAPER_SAMPLES_PER_UPDATE = 512  # 32 questions x 16 outputs
PAPER_OUTPUTS_PER_ROLLOUT = 8192  # split into 16 minibatches, 1 epoch
PAPER_REF_REFRESH_UPDATES = 400
PAPER_TOTAL_UPDATES = 10_400


def accelerator_recipe(c, variant: str) -> None:
  """R1-Zero [R1v2 2.1]: lr 3e-6, beta 0.001, T 1.0, G 16; one rollout of
  8,192 outputs (512 questions x 16) is split into 16 optimizer updates
  of 512 samples (32 questions x 16), 1 epoch; the reference is refreshed
  every 400 updates; 10,400 updates in all. The completion budget is cut
  from 32,768 to what a small model on one host can afford."""
  max_new = ACCELERATOR[variant]
  # The Hugging Face base checkpoint directory (config.json, safetensors,
  # tokenizer.json): REQUIRED, e.g. --config.init_from=/ckpt/Qwen2.5-1.5B.
  c.init_from = "/path/to/" + {"qwen2.5-0.5b": "Qwen2.5-0.5B",
                               "qwen2.5-1.5b": "Qwen2.5-1.5B"}[variant]
  c.model.preset = variant
  c.model.dtype = "bfloat16"
  c.model.remat = "full"
  # GSM8K train (openai/grade-school-math train.jsonl); MATH-500 held out.
  c.data.train_file = "/path/to/gsm8k/train.jsonl"
  c.data.format = "gsm8k"
  c.data.eval_file = "/path/to/MATH-500/test.jsonl"
  c.data.eval_format = "math500"
  c.max_prompt_len = 512
  c.rl.num_prompts = 512  # per rollout: 512 x 16 = 8,192 outputs
  c.rl.group_size = 16
  c.rl.max_new_tokens = max_new
  c.rl.updates_per_batch = 1
  c.rl.minibatches = 16  # 16 updates x 512 samples per rollout
  # 512 samples per update in 64 micro-batches of 8 rows: one row per
  # chip on 8 chips. On ONE accelerator: --config.rl.microbatches=512 (one
  # row at a time) or fewer if memory allows; on 2 chips 256, etc.
  c.rl.microbatches = 64
  # 16 chunks of 32 prompts x 16 = 512 rows in the KV cache at a time.
  c.rl.rollout_chunks = 16
  c.rl.host_rewards = True  # math-verify on the host
  c.rl.cache_dtype = "bfloat16"
  c.rl.ref_update_every = PAPER_REF_REFRESH_UPDATES  # optimizer updates
  c.loss.beta = 0.001
  c.optim.lr = 3e-6
  # Not published for R1-Zero: one rollout's worth of updates (16).
  c.optim.warmup_steps = 16
  c.optim.weight_decay = 0.0
  # 650 rollouts x 16 updates = 10,400 optimizer updates [R1v2].
  c.steps = PAPER_TOTAL_UPDATES // 16
  c.eval.every = 25  # rollouts (= 400 updates)
  c.eval.num_prompts = 500
  c.eval.k = 4
  c.checkpoint.every = 10  # rollouts
