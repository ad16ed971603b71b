r"""R1-Zero: GRPO straight from a base model with rule-based rewards.

  # CPU smoke run on a synthetic task (random base model; see :demo).
  python -m r1jax.main --config=configs/r1_zero.py:tiny --workdir=/tmp/rz
  # Ablate from the command line, e.g. the DAPO loss without format reward:
  python -m r1jax.main --config=configs/r1_zero.py:tiny \
      --config.loss.preset=dapo --config.rewards.format=0 --workdir=/tmp/rz2
  # From a pretrained workdir or a Hugging Face directory:
  python -m r1jax.main --config=configs/r1_zero.py:tiny \
      --config.init_from=/tmp/base --workdir=/tmp/rz3

Sources: [R1] DeepSeek-R1 (v1 2025, v2 Nature) and DeepSeekMath for GRPO;
[DAPO], [Dr.GRPO], [GSPO] for the presets (r1jax.losses.grpo.PRESETS).
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
  # Clip range [1 - eps_low, 1 + eps_high]; R1: 0.2 [R1v2 uses 10 in
  # stage-1 RL]; DAPO clip-higher: 0.28.
  c.eps_low = ph(float)
  c.eps_high = ph(float)
  # Dual-clip constant c > 1 for negative advantages; 0 = off.
  c.dual_clip = ph(float)
  # seq_mean [R1] | token_mean [DAPO] | constant [Dr.GRPO] |
  # local_token_mean [BNPO; depends on micro-batch size].
  c.aggregation = ph(str)
  # L_max of the constant normaliser; 0 = max_new_tokens.
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
  # Truncated importance sampling cap when sampler and learner log-probs
  # differ (top-p rollouts, bf16); 0 = off.
  c.tis_cap = ph(float)
  return c


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="tiny", runlocal=False)
  c = ml_collections.ConfigDict()
  c.stage = "grpo"
  c.seed = 0
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
  # Prompt template [R1v1 Table 1].
  c.template = "r1_zero"
  # Prompts are left-padded to this many tokens (longer ones: an error).
  c.max_prompt_len = 256

  # ROLLOUTS
  c.rl = ml_collections.ConfigDict()
  # Unique prompts per step. R1-Zero: 32 questions x 16 [R1v2].
  c.rl.num_prompts = 8
  # G, samples per prompt [R1v2: 16].
  c.rl.group_size = 8
  # Completion budget in tokens [R1-Zero: 32768, later 65536].
  c.rl.max_new_tokens = 64
  # Rollout temperature [R1v2: 1.0]; log-probs in the loss use the same.
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
  # the same for any value with global normalisers).
  c.rl.microbatches = 1
  # DAPO dynamic sampling: sample oversample x num_prompts prompts and keep
  # the first num_prompts groups whose rewards are not all equal.
  c.rl.dynamic_sampling = False
  c.rl.oversample = 1
  # Exclude truncated completions from the loss [DAPO overlong filter].
  c.rl.mask_truncated = False
  # Reward assigned to truncated completions (None: computed as usual).
  c.rl.truncated_reward = config_dict.placeholder(float)
  # Replace the reference model by the policy every N steps [R1v2: 400];
  # 0 = never.
  c.rl.ref_update_every = 400
  # Rewards on the host (math-verify, language, ...): two compiled
  # programs (rollout, update) instead of one. Device rewards need a task.
  c.rl.host_rewards = False
  c.rl.cache_dtype = ""

  c.loss = loss_block("grpo")
  # Reward weights (config.rewards.<name>) and options; R1-Zero: accuracy +
  # format [R1v1 2.2.2].
  c.rewards = reward_total.default_reward_config()
  c.reward_options = reward_total.default_reward_options()

  c.optim = configlib.optim_block(lr=1e-6, warmup_steps=0,
                                  schedule="constant")
  c.steps = 100

  # EVALUATION on held-out prompts: pass@1 over k samples and cons@k at the
  # paper's protocol (temperature 0.6, top-p 0.95) [R1v1 3].
  c.eval = configlib.eval_block()
  c.log = configlib.log_block()
  c.checkpoint = configlib.checkpoint_block()

  if a.variant == "tiny" or a.runlocal:
    c.optim.lr = 1e-3
    c.steps = 20
  elif a.variant in ACCELERATOR:
    accelerator_recipe(c, a.variant)
  else:
    raise ValueError(f"configs/r1_zero.py: unknown variant {a.variant!r}; "
                     f"known: tiny, {', '.join(ACCELERATOR)}")
  return c


# Qwen2.5 base checkpoints on GSM8K / MATH with math-verify rewards:
# (max_new_tokens, microbatches).
ACCELERATOR = {"qwen2.5-0.5b": (1024, 4), "qwen2.5-1.5b": (2048, 8)}


def accelerator_recipe(c, variant: str) -> None:
  """R1-Zero hyperparameters [R1v2 Table: lr 3e-6, beta 0.001, T 1.0,
  G 16, 32 questions per step, reference refreshed every 400 steps, the
  rollout split into 16 minibatches, 1 epoch]; completion budget cut from
  32768 to what a small model on one accelerator can afford."""
  max_new, micro = ACCELERATOR[variant]
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
  c.rl.num_prompts = 32
  c.rl.group_size = 16
  c.rl.max_new_tokens = max_new
  c.rl.minibatches = 16
  c.rl.microbatches = micro
  c.rl.host_rewards = True  # math-verify on the host
  c.rl.cache_dtype = "bfloat16"
  c.loss.beta = 0.001
  c.optim.lr = 3e-6
  c.optim.warmup_steps = 10
  c.optim.weight_decay = 0.0
  c.steps = 1000
  c.eval.every = 50
  c.eval.num_prompts = 500
  c.eval.k = 4
  c.checkpoint.every = 50
