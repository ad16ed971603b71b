r"""DeepSeek-R1 as one `pipeline` config: cold-start SFT, reasoning RL,
rejection sampling, SFT from the base again, RL for all scenarios.

  python -m r1jax.main --config=configs/r1.py:qwen2.5-7b --workdir=/runs/r1 \
      --config.base_model=/ckpt/Qwen2.5-7B \
      --config.stages.cold_start.data.train_file=/data/cold_start.jsonl \
      --config.stages.reasoning_rl.data.train_file=/data/reasoning.jsonl \
      --config.stages.rejection.prompts.file=/data/reasoning.jsonl \
      --config.stages.rejection.decontaminate.aime2024=/data/aime_2024/train.parquet \
      --config.stages.all_scenario_rl.data.train_file=/data/all.jsonl \
      --config.stages.all_scenario_rl.reward_models.helpfulness.init_from=/runs/rm \
      --config.stages.all_scenario_rl.reward_models.safety.init_from=/runs/safety \
      --config.evaluate.evals.aime2024.file=/data/aime_2024/train.parquet
  # Run one stage again (the stages before it must have finished):
  python -m r1jax.main --config=configs/r1.py --workdir=/runs/r1 ... \
      --config.only=sft

Each stage runs in WORKDIR/<name> (r1jax/trainers/pipeline.py), hands its
model on by reference ("@cold_start") and is skipped once finished; the
models of cold_start, reasoning_rl, sft and all_scenario_rl are evaluated
into WORKDIR/eval/<name> and gathered in WORKDIR/results.md.

DATA SLOTS: fields set to "" (and the base model's placeholder path).
pipeline.validate names the first one still empty (or not found) as
config.stages.<name>.<field>, before any stage runs. Every data file is
JSONL.
- base_model: the Hugging Face base directory (config.json, safetensors,
  tokenizer.json); cold_start and sft both start from it.
- cold_start.data.train_file: {"prompt", "completion"}. The prompt is
  written as the later stages render it, r1jax.data.templates.r1_chat(
  question) (`sft` trains on the text as it is), e.g.
  "<｜begin▁of▁sentence｜><｜User｜>question<｜Assistant｜><think>\n"; the
  completion "reasoning\n</think>\n<answer>\nsummary, final answer in
  \boxed{}\n</answer>": R1's summary after the reasoning [R1v1 2.3.1],
  inside the tags r1jax's format reward checks.
- reasoning_rl.data.train_file and rejection.prompts.file (the same file or
  not): {"prompt", "answer", optional "lang", "id"}: questions with a
  reference answer that math-verify checks.
- all_scenario_rl.data.train_file: those rows with "source": "reasoning"
  and general prompts with "source": "general" and "answer": "";
  config.reward_scope routes each reward by "source".
- all_scenario_rl.reward_models.{helpfulness,safety}.init_from: reward
  models trained from the same base (they must share its tokenizer) with
  configs/reward_model.py (pairwise) and :pointwise (safety).
- rejection.decontaminate.aime2024 and evaluate.evals.aime2024.file: the
  benchmark file (HuggingFaceH4/aime_2024; README "Evaluate").
- sft.data.extra_files: R1's ~200k non-reasoning samples, read after
  "@rejection/sft.jsonl" (a tuple of JSONL files; see the field's comment).

Variants: `qwen2.5-7b` (default): the Qwen2.5-7B base, sized for 8 chips
(8x H100 80 GB); the micro-batch and chunk counts are sized by arithmetic
in the comments, not measured. On N chips (a TPU v5p-64 slice has 32)
scale them so that every piece of a batch divides over the N chips;
validate names any piece that does not.

`mini`: the whole chain on a 2-core CPU, no data slots (configs/r1_mini.py):
  python -m r1jax.main --config=configs/r1.py:mini --workdir=/tmp/r1mini
base (pretraining on the `r1_base` corpus: en/de/zh arithmetic whose
German and Chinese chains drift into English, no summary, and general
requests answered helpfully half the time) -> reward_model
(helpfulness, Bradley-Terry on generated pairs) -> r1_zero (R1-Zero GRPO on
it) -> cold_start_data (R1-Zero's own correct samples, put back into the
prompt's language and rewritten into the readable layout) -> cold_start
(SFT of the base) -> reasoning_rl -> rejection -> general_data (the base's replies to general requests: the
non-reasoning SFT data) -> sft (of the base again, on both) ->
all_scenario_rl -> eval of r1_zero and of every R1 model on the same
held-out problems and requests (pass@1, format, readable, language
consistency on non-English prompts, helpfulness by a hidden gold rule
and the RM's score: WORKDIR/results.md). No safety RM.

Sources: [R1v1] arXiv 2501.12948v1, [R1v2] v2 (the Nature text and its
Supplementary Information), [README] deepseek-ai/DeepSeek-R1; summarised
in R1_FACTS.md section 3. What they do not publish is marked "ours".
"""

import ml_collections

from configs import eval as eval_config
from configs import generate as generate_config
from configs import r1_mini
from configs import r1_zero as r1_zero_config
from configs import sft as sft_config
from r1jax import configlib
from r1jax.trainers import pipeline

# Stage names, in the order they run.
ORDER = ("cold_start", "reasoning_rl", "rejection", "sft", "all_scenario_rl")
# Stages whose model `config.evaluate` scores.
EVALUATED = ("cold_start", "reasoning_rl", "sft", "all_scenario_rl")
VARIANTS = {"qwen2.5-7b": "Qwen2.5-7B", "mini": ""}

# [R1v2 3.2.1] reasoning RL: GRPO clip ratio epsilon (both sides), rollout
# temperature; the rest is R1-Zero's [R1v2 2.1].
PAPER_CLIP_EPS = 10.0
PAPER_RL_TEMPERATURE = 1.0
# [R1v2 3.2.2] RL for all scenarios: rollout temperature; 1,700 steps, the
# general data and preference rewards only in the last 400.
PAPER_ALL_SCENARIO_TEMPERATURE = 0.7
PAPER_ALL_SCENARIO_STEPS = 1700
PAPER_PREFERENCE_STEPS = 400
# [R1v2 2.1] R1-Zero, kept by reasoning RL: per OPTIMIZER UPDATE 32
# questions x 16 outputs = 512 samples; a rollout of 8,192 outputs in 16
# updates, 1 epoch; lr 3e-6; KL beta 0.001; reference refreshed every 400
# updates.
PAPER_GROUP = 16
PAPER_PROMPTS_PER_UPDATE = 32
PAPER_UPDATES_PER_ROLLOUT = 16
PAPER_RL_LR = 3e-6
PAPER_BETA = 0.001
PAPER_REF_REFRESH_UPDATES = 400
# [R1v2 B.4.2] SFT on the ~800k samples: 2 epochs, lr 5e-6, batch 64
# sequences per optimizer update, context 32,768 tokens, cosine to 0.1x.
PAPER_SFT_EPOCHS = 2.0
PAPER_SFT_LR = 5e-6
PAPER_SFT_BATCH = 64
PAPER_SFT_SEQ_LEN = 32768
PAPER_SFT_FINAL_LR_FRACTION = 0.1
# Completion budget in tokens of both RL stages and of rejection sampling;
# ours, the paper's is 32,768 [R1v2 3.2.1]. A 32,768-token row costs the
# learner 32,768 x 152,064 float32 logits = 20 GB (and the same again for
# their softmax), and a rollout of 8,192 such rows is 268M sampled tokens;
# at 8,192 both are 4x smaller.
MAX_NEW_TOKENS = 8192
# Prompt tokens (left-padded; longer prompts are an error at start-up); ours.
MAX_PROMPT_LEN = 1024
# The chat markup of every stage: R1's own [README; the tokenizer_config of
# deepseek-ai/DeepSeek-R1], "<think>\n" opened, no system prompt [README].
TEMPLATE = "r1_chat"


def _sft(base) -> ml_collections.ConfigDict:
  """An SFT stage with R1's SFT settings [R1v2 B.4.2] from `base` (a
  reference to the base model's directory)."""
  c = sft_config.get_config("sft")
  c.init_from = base
  c.model.preset = "qwen2.5-7b"
  # bfloat16 compute; float32 master weights: AdamW moves a weight by
  # about lr = 5e-6, under half of bfloat16's spacing near a weight of 0.02
  # (2^-13 = 1.2e-4), so bfloat16 weights would round most updates away.
  c.model.dtype = "bfloat16"
  c.model.remat = "full"
  c.data.train_file = ""
  # Packed rows of seq_len tokens (segment ids keep examples apart) per
  # OPTIMIZER UPDATE [R1v2 B.4.2: batch 64, context 32,768]. r1jax always
  # packs; the paper does not say whether it did: a row holds ~6 examples of
  # R1's mean 5,355 tokens [R1v2 Table 5].
  c.data.batch_size = PAPER_SFT_BATCH
  c.data.seq_len = PAPER_SFT_SEQ_LEN
  # Memory only (the loss is the same): 64 rows in 8 micro-batches of 8
  # rows, one row per chip on 8 chips; ours.
  c.data.microbatches = 8
  # Passes over the data; optimizer updates = epochs x batches per epoch.
  c.epochs = PAPER_SFT_EPOCHS
  # lr per optimizer update, cosine decay to 0.1x. Warmup (0 optimizer
  # updates) and weight decay (0): not published; ours, as
  # configs/distill.py.
  c.optim = configlib.optim_block(lr=PAPER_SFT_LR, warmup_steps=0,
                                  schedule="cosine")
  c.optim.final_lr_fraction = PAPER_SFT_FINAL_LR_FRACTION
  c.optim.weight_decay = 0.0
  return c


def _grpo(init_from: str) -> ml_collections.ConfigDict:
  """A GRPO stage with reasoning RL's settings [R1v2 3.2.1]: R1-Zero's
  [R1v2 2.1] with clip ratio 10, rewards accuracy + format + language."""
  c = r1_zero_config.get_config("qwen2.5-1.5b")
  c.init_from = init_from
  c.model.preset = "qwen2.5-7b"
  c.model.dtype = "bfloat16"
  c.model.remat = "full"
  # No synthetic task: an empty train_file is an error, not arithmetic.
  c.data.task = ""
  c.data.task_kwargs = ml_collections.ConfigDict()
  c.data.train_file = ""
  c.data.format = ""
  # Held-out scoring is the pipeline's `evaluate` (after the stage).
  c.data.eval_file = ""
  c.data.eval_format = ""
  c.eval.num_prompts = 0
  c.template = TEMPLATE
  c.system_prompt = ""
  c.prefill = ""
  c.max_prompt_len = MAX_PROMPT_LEN
  # ROLLOUTS. config.steps counts ROLLOUTS; each is updates_per_batch x
  # minibatches OPTIMIZER UPDATES. [R1v2 2.1]: 512 questions x 16 = 8,192
  # outputs per rollout, 16 updates of 32 questions x 16 = 512 samples.
  c.rl.num_prompts = PAPER_PROMPTS_PER_UPDATE * PAPER_UPDATES_PER_ROLLOUT
  c.rl.group_size = PAPER_GROUP
  c.rl.updates_per_batch = 1
  c.rl.minibatches = PAPER_UPDATES_PER_ROLLOUT
  c.rl.max_new_tokens = MAX_NEW_TOKENS
  c.rl.temperature = PAPER_RL_TEMPERATURE
  # Not stated [R1v2]; 1.0: the loss's log-probs are the sampler's.
  c.rl.top_p = 1.0
  # Only EOS ends a completion (sft appends it to every training
  # completion); a stop string must be one token of the tokenizer, which
  # "</answer>" need not be in the base's.
  c.rl.stop_tokens = ()
  # Memory only, ours: 512 samples per update in 64 micro-batches of 8
  # rows (one per chip on 8 chips); the rollout sampled 256 rows at a time:
  # KV cache 256 x (1,024 + 8,192) tokens x 28 layers x 2 x 4 heads x 128
  # x 2 bytes = 135 GB over the chips.
  c.rl.microbatches = 64
  c.rl.rollout_chunks = 32
  c.rl.host_rewards = True  # math-verify and language on the host
  c.rl.cache_dtype = "bfloat16"
  c.rl.ref_update_every = PAPER_REF_REFRESH_UPDATES  # optimizer updates
  c.loss.eps_low = PAPER_CLIP_EPS
  c.loss.eps_high = PAPER_CLIP_EPS
  c.loss.beta = PAPER_BETA
  # Reward weights, summed [R1v2 3.2.1]: Reward_rule (accuracy + format,
  # the same weight) + Reward_language, "added directly".
  c.rewards.accuracy = 1.0
  c.rewards.format = 1.0
  c.rewards.language = 1.0
  c.reward_report = ("accuracy", "format", "language", "reflection")
  c.optim = configlib.optim_block(lr=PAPER_RL_LR, warmup_steps=16,
                                  schedule="constant")
  # Warmup: one rollout's 16 optimizer updates; weight decay 0; ours (not
  # published).
  c.optim.weight_decay = 0.0
  # Rollouts. Reasoning RL's length is not published; ours: 100 rollouts x
  # 16 = 1,600 optimizer updates.
  c.steps = 100
  c.checkpoint.every = 5  # rollouts; ours
  return c


def _reasoning_rl() -> ml_collections.ConfigDict:
  return _grpo("@cold_start")


def _rejection() -> ml_collections.ConfigDict:
  """Rejection sampling from reasoning RL [R1v1 2.3.3; R1v2 B.3.3]."""
  c = generate_config.get_config("r1")
  c.init_from = "@reasoning_rl"
  c.model.preset = "qwen2.5-7b"
  p = c.prompts
  p.file = ""
  p.template = TEMPLATE
  p.question_suffix = ""  # as the RL prompts were rendered
  # k, samples per prompt: not published; ours.
  p.n = 4
  # Tokens per sample: the budget reasoning RL trained with (ours); longer
  # samples are truncated and the `length` filter rejects them.
  p.max_new_tokens = MAX_NEW_TOKENS
  # Sampling at R1's recommended T 0.6, top-p 0.95 (configs/generate.py):
  # the stage's own settings are not published.
  # Filters in order: summary, correct answers only, language mixing, long
  # paragraphs, code blocks [R1v2 B.3.3], then repetition, length, trim,
  # dedupe and decontamination (configs/generate.py FILTERS).
  c.filters = generate_config.FILTERS
  # The benchmark file to decontaminate against (the one evaluated).
  c.decontaminate.aime2024 = ""
  return c


def _all_scenario_rl() -> ml_collections.ConfigDict:
  """RL for all scenarios [R1v2 3.2.2]: reasoning RL's settings at T 0.7
  for 1,700 steps; rule rewards on reasoning prompts, reward models on
  general prompts in the last 400 steps, the language reward on all."""
  c = _grpo("@sft")
  c.rl.temperature = PAPER_ALL_SCENARIO_TEMPERATURE
  # One paper step = one OPTIMIZER UPDATE of 32 questions x 16 = 512
  # samples, as in R1-Zero [R1v2 2.1]. 1,700 updates are no whole number
  # of 16-update rollouts, so here a rollout is one update (ours): then
  # config.steps (rollouts) = optimizer updates = the paper's steps, and
  # the reward scopes' start_step (rollouts) is the paper's too.
  c.rl.num_prompts = PAPER_PROMPTS_PER_UPDATE
  c.rl.minibatches = 1
  c.rl.rollout_chunks = 2  # 256 rows at a time, as in reasoning RL
  c.steps = PAPER_ALL_SCENARIO_STEPS
  start = PAPER_ALL_SCENARIO_STEPS - PAPER_PREFERENCE_STEPS  # 1,300
  # NOT EXPRESSED: the general PROMPTS come in only in the last 400 steps
  # [R1v2 3.2.2]. The stage draws its prompts from one file, so general
  # prompts are in the mixture from the first rollout; before rollout
  # 1,300 only format and language score them.
  # Reward = Reward_reasoning (rule-based, reasoning prompts) +
  # Reward_general (reward models + format) + Reward_language, summed.
  # Rows are told apart by their example's "source".
  c.reward_scope.accuracy.sources = "reasoning"
  # The helpfulness RM scores only the summary after </think>, the safety
  # RM the whole response [R1v2 3.1]; both on general prompts, from
  # rollout 1,300 on. Weights: summed like the rest (not published).
  configlib.add_reward_model(c, "helpfulness", weight=1.0, span="summary",
                             sources="general", start_step=start)
  configlib.add_reward_model(c, "safety", weight=1.0, span="full",
                             sources="general", start_step=start)
  for name in ("helpfulness", "safety"):
    # RM forwards per rollout in chunks of 8 rows (one per chip on 8
    # chips): memory only; ours.
    c.reward_models[name].chunks = 64
  c.reward_report = ("accuracy", "format", "language", "reflection")
  c.checkpoint.every = 50  # rollouts; ours
  c.checkpoint.export_hf = True  # WORKDIR/all_scenario_rl/hf: the result
  return c


def _evaluate() -> ml_collections.ConfigDict:
  """The paper's protocol on AIME 2024 [R1v2 D.1]: T 0.6, top-p 0.95, 64
  samples per problem, 32,768 new tokens, pass@1 their mean."""
  c = eval_config.get_config("aime2024")
  e = c.evals.aime2024
  e.file = ""
  # The markup the stages trained with (it opens <think>: no prefill).
  e.template = TEMPLATE
  c.model.preset = "qwen2.5-7b"
  return c


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="qwen2.5-7b")
  if a.variant not in VARIANTS:
    raise ValueError(f"configs/r1.py: unknown variant {a.variant!r}; "
                     f"known: {', '.join(VARIANTS)}")
  if a.variant == "mini":
    return r1_mini.get_config()
  # The base checkpoint: a Hugging Face directory (config.json, safetensors,
  # tokenizer.json), REQUIRED. Cold-start SFT and the SFT stage both start
  # from it (the second SFT fine-tunes the base, not the RL checkpoint
  # [R1v1 2.3.3; R1v2 B.3.3]): their init_from is this one field
  # (config.base_model; setting any of the three sets all).
  base = ml_collections.FieldReference("/path/to/" + VARIANTS[a.variant])
  stages = {
      # 1. Cold start [R1v1 2.3.1; R1v2 B.3.2]: SFT of the base on
      # "thousands" of long-CoT examples. Its optimizer settings are not
      # published; ours: the SFT stage's [R1v2 B.4.2].
      "cold_start": _sft(base),
      # 2. Reasoning RL [R1v2 3.2.1] from the cold-start model.
      "reasoning_rl": _reasoning_rl(),
      # 3. Rejection sampling from it -> WORKDIR/rejection/sft.jsonl.
      "rejection": _rejection(),
      # 4. SFT of the BASE on the kept samples [R1v1 2.3.3; R1v2 B.3.3,
      # B.4.2].
      "sft": _sft(base),
      # 5. RL for all scenarios [R1v2 3.2.2] from the SFT model.
      "all_scenario_rl": _all_scenario_rl(),
  }
  s = stages["sft"]
  s.data.train_file = "@rejection/sft.jsonl"
  # R1's ~200k NON-REASONING samples [R1v2 B.3.3] (JSONL {prompt,
  # completion}, prompts in the r1_chat markup), read after the kept
  # reasoning samples: --config.stages.sft.data.extra_files="('/data/
  # non_reasoning.jsonl',)". Empty: the SFT sees the reasoning samples only.
  s.data.extra_files = ()
  c = pipeline.make_config(stages, _evaluate(), evaluate_after=EVALUATED)
  # The base model directory shared by cold_start and sft (see above).
  c.base_model = base
  return c
