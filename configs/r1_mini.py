r"""`configs/r1.py:mini`: the R1 chain on a 2-core CPU, from a base model it
pretrains itself (see configs/r1.py for the stages and their sources).

  python -m r1jax.main --config=configs/r1.py:mini --workdir=/tmp/r1mini
  python -m r1jax.main --config=configs/r1.py:mini --workdir=/tmp/r1mini \
      --config.only=sft              # one stage again

Stages (config.order), each in WORKDIR/<name>:
  base             pretraining on the `r1_base` corpus (r1jax/data/
                   r1_corpus.py): en/de/zh 3-operation arithmetic in the
                   R1-Zero template, German/Chinese chains drifting into
                   English, run-on, no summary; 10% general requests
                   (greet / thank / say goodbye to someone; r1jax/data/
                   tasks/general.py), half answered helpfully; trains the
                   tokenizer
  reward_model     helpfulness RM from the base on generated pairs (a
                   helpful reply preferred to an unhelpful one) [R1v2 3.1]
  r1_zero          R1-Zero: GRPO from the base, accuracy + format [R1v2 2]
  cold_start_data  R1-Zero sampled at T 1.0, correct samples, drifted
                   sentences put back into the prompt's language, single-
                   language ones rewritten into the readable layout with
                   an answer-sentence summary (configs/generate.py:
                   cold_start) [R1v2 B.3.2]
  cold_start       SFT of the BASE on them, r1_chat markup [R1v1 2.3.1]
  reasoning_rl     GRPO + language consistency [R1v2 3.2.1]
  rejection        sampling reasoning_rl: correct, single-language,
                   readable samples -> sft.jsonl [R1v2 B.3.3]
  general_data     the base's replies to general requests, unfiltered:
                   the non-reasoning SFT data [R1v2 B.3.3]
  sft              SFT of the BASE on both [R1v2 B.3.3]
  all_scenario_rl  GRPO from sft on reasoning + general prompts: accuracy
                   on reasoning, the RM on general, format and language on
                   all [R1v2 3.2.2]
Evaluation (config.evaluate) after r1_zero, cold_start, reasoning_rl, sft
and all_scenario_rl on the same held-out problems and requests, into
WORKDIR/results.md: pass@1, format, readable layout and language
consistency on non-English prompts; on general requests pass@1 is a
hidden gold rule's helpfulness (the RM never sees the rule, only pairs)
and rm_score the reward model's score.
Not here: a safety RM.

Every size is ours, chosen for minutes on 2 CPU cores; settings the paper
gives are kept where they cost nothing (T 1.0 rollouts, clip ratio 10,
KL 0.001, SFT from the base for R1's 2 epochs).
"""

import ml_collections

from configs import eval as eval_config
from configs import generate as generate_config
from configs import r1_zero as r1_zero_config
from configs import reward_model as rm_config
from configs import sft as sft_config
from r1jax import configlib
from r1jax import tokenizers as tok_lib
from r1jax.data import templates
from r1jax.trainers import pipeline

TASK = "multilingual_arithmetic"
# General (non-verifiable) requests: greet / thank / say goodbye to someone
# (r1jax/data/tasks/general.py); a hidden gold rule only measures them.
GENERAL = "general_chat"
# Task knobs of every stage and of the corpus (r1_base's defaults).
TASK_KWARGS = dict(num_ops=3, max_operand=5, allow_division=True,
                   lang="mixed")
# Task streams: RL prompts 0, held-out evaluation 1 (left out of the
# corpus), cold-start sampling 2, rejection sampling 3, general SFT data 4,
# reward-model pairs 5. (general_chat has 144 distinct requests: its
# held-out ones are seen in training too; what is held out is the reply.)
EVAL_SEED, COLD_START_SEED, REJECTION_SEED = 1, 2, 3
GENERAL_DATA_SEED, PREFERENCE_SEED = 4, 5
# Share of the base corpus that is general requests, half answered
# helpfully (r1_corpus.r1_base p_general / p_helpful).
CORPUS_GENERAL = 0.1
# Share of general requests among all-scenario RL prompts (ours).
RL_GENERAL = 0.25
EVAL_PROMPTS = 128
# r1_base responses are ~60 tokens (max ~180); the readable layout ~110.
MAX_NEW_TOKENS = 192
# Templated prompts are <= 47 tokens (r1_zero) with the base's tokenizer.
MAX_PROMPT_LEN = 64
# The chat markup is single pieces of the tokenizer (not bytes).
SPECIAL_TOKENS = tok_lib.R1_SPECIAL_TOKENS + (
    templates.BOS, templates.USER, templates.ASSISTANT)
FP32 = dict(dtype="float32", param_dtype="float32")


def _base() -> ml_collections.ConfigDict:
  """The R1-Zero demo's pretraining (configs/r1_zero_demo.py) on r1_base:
  a ~0.9M-parameter model, 1,000 updates of 8 rows x 256 tokens."""
  c = sft_config.get_config("base")
  c.stage = "pretrain"
  c.tokenizer_options.special_tokens = SPECIAL_TOKENS
  c.data.corpus = "r1_base"
  c.data.corpus_kwargs = ml_collections.ConfigDict(dict(
      num_docs=8000, seed=100, exclude_seed=EVAL_SEED,
      exclude_count=EVAL_PROMPTS, p_general=CORPUS_GENERAL, **TASK_KWARGS))
  c.data.batch_size = 8
  # 1,024 pieces (768 before the general requests joined the corpus: with
  # them, 768 pieces cut the longest R1-Zero prompt into 75 tokens, 1,024
  # into 40; measured on the tokenizer this stage trains).
  c.vocab_size = 1024
  c.checkpoint.every = -1  # the final checkpoint only
  c.checkpoint.keep = 1
  c.log.every = 50
  return c


def _grpo(init_from: str, template: str) -> ml_collections.ConfigDict:
  """GRPO on the task's training stream (RL prompts), 16 prompts x 8."""
  c = r1_zero_config.get_config("tiny")
  c.init_from = init_from
  c.tokenizer = ""
  c.data.task = TASK
  c.data.task_kwargs = ml_collections.ConfigDict(TASK_KWARGS)
  c.template = template
  c.max_prompt_len = MAX_PROMPT_LEN
  c.rl.num_prompts = 16
  c.rl.group_size = 8
  c.rl.max_new_tokens = MAX_NEW_TOKENS
  c.rl.temperature = 1.0  # [R1v2 2.1]
  c.loss.beta = 0.001  # [R1v2 2.1]
  c.optim.lr = 1e-4  # the demo's (tiny model, tens of rollouts)
  c.steps = 30
  c.eval.num_prompts = 0  # held-out scoring: config.evaluate
  c.log.samples_every = 5
  c.checkpoint.every = -1
  c.checkpoint.keep = 1
  return c


def _cold_start_data() -> ml_collections.ConfigDict:
  """R1-Zero's samples at T 1.0 -> readable r1_chat SFT rows: 2,048
  prompts x 4, at most 2 kept per prompt (~1,900 rows, a third per
  language). The chains' English sentences on German and Chinese prompts
  are put back into the prompt's language first (`translate`): without it
  the language filter kept ~90% English rows (58 Chinese of 1,470 from
  4,096 prompts) and the cold-start model's pass@1 on Chinese prompts was
  0.13 (R1-Zero 0.68; seed 0 at 2521579)."""
  c = generate_config.get_config("cold_start")
  c.init_from = "@r1_zero"
  e = c.prompts
  e.loader_kwargs.update(TASK_KWARGS)
  e.task_seed = COLD_START_SEED
  e.task_count = 2048
  e.n = 4
  e.max_new_tokens = MAX_NEW_TOKENS
  c.max_per_prompt = 2
  # The summary line is the answer sentence alone ("So the answer is
  # \boxed{7}."): with the chain's equations restated before it, 18% of
  # the cold-start model's held-out samples whose chain ended on the right
  # value (63 of 345) boxed a different, wrong answer (seed 0, ead5b2d's
  # translate with the equation summary).
  c.filter_options.readable = ml_collections.ConfigDict(
      dict(summary="answer"))
  return c


def _sft(train_file: str, epochs: float) -> ml_collections.ConfigDict:
  """SFT of the base on `train_file` ({prompt, completion} in r1_chat)."""
  c = sft_config.get_config("sft")
  c.init_from = "@base"  # the BASE, for both SFT stages [R1v2 B.3.3]
  c.data.train_file = train_file
  c.data.batch_size = 8
  c.data.seq_len = 256
  c.epochs = epochs
  # The base's pretraining lr (3e-3) tapered; ours.
  c.optim.lr = 2e-3
  c.optim.warmup_steps = 5
  c.optim.final_lr_fraction = 0.1  # [R1v2 B.4.2]
  c.model.update(FP32)
  c.checkpoint.every = -1
  c.checkpoint.keep = 1
  c.log.every = 10
  return c


def _reasoning_rl() -> ml_collections.ConfigDict:
  """[R1v2 3.2.1]: accuracy + format + language consistency, summed;
  clip ratio 10; host rewards (the summary's \\boxed{} answer and the
  language reward are read on the host)."""
  c = _grpo("@cold_start", "r1_chat")
  c.rl.host_rewards = True
  # 8 prompts x 8 (16 doubled the stage's time, 428 s, for the same
  # held-out pass@1: 0.281 vs 0.285 +- 0.035).
  c.rl.num_prompts = 8
  c.rewards.language = 1.0
  c.reward_report = ("accuracy", "format", "language")
  c.loss.eps_low = c.loss.eps_high = 10.0
  c.steps = 30
  return c


def _rejection() -> ml_collections.ConfigDict:
  """Samples of reasoning_rl on fresh problems at R1's T 0.6 / top-p 0.95:
  correct, single-language, readable, not repetitive."""
  c = generate_config.get_config(TASK)
  c.init_from = "@reasoning_rl"
  e = c.prompts
  e.loader_kwargs.update(TASK_KWARGS)
  e.template = "r1_chat"
  e.task_seed = REJECTION_SEED
  # ~2,100 kept rows for the final SFT (768 prompts kept ~400).
  e.task_count = 3072
  e.n = 4
  e.temperature, e.top_p = 0.6, 0.95
  e.max_new_tokens = MAX_NEW_TOKENS
  c.filters = ("correct", "language", "repetition", "length",
               "trim_after_answer", "readable_layout", "dedupe")
  c.max_per_prompt = 2
  return c


def _general_data() -> ml_collections.ConfigDict:
  """R1's non-reasoning SFT data [R1v2 B.3.3] in miniature: the base's own
  replies to general requests (T 1.0, 2 per request), helpful or not (no
  gold filter: SFT data of mixed quality, which the reward model's RL
  stage then improves on), in r1_chat markup."""
  c = generate_config.get_config(GENERAL)
  c.init_from = "@base"
  e = c.prompts
  e.task_seed = GENERAL_DATA_SEED
  e.task_count = 384
  e.n = 2
  e.temperature, e.top_p = 1.0, 1.0
  e.max_new_tokens = 64
  # No `correct` (the gold rule) and no dedupe (most helpful replies to a
  # request are the same text: dedupe would keep the unhelpful ones).
  c.filters = ("length", "trim_after_answer")
  c.max_per_prompt = 2
  c.target.template = "r1_chat"
  return c


def _reward_model() -> ml_collections.ConfigDict:
  """The helpfulness RM [R1v2 3.1] in miniature: Bradley-Terry from the
  base on generated pairs (a helpful reply preferred to an unhelpful one;
  r1jax/data/tasks/general.py), each the text after `</think>` as the RL
  stage's RM reads it (span 'summary'), prompts in r1_chat."""
  c = rm_config.get_config("pairwise")
  c.init_from = "@base"
  c.data.synthetic = GENERAL
  c.data.synthetic_kwargs = ml_collections.ConfigDict(dict(
      num_prompts=2048, seed=PREFERENCE_SEED, summary_only=True))
  c.data.template = "r1_chat"
  c.data.eval_fraction = 0.1  # whole requests held out (by prompt hash)
  c.data.batch_size = 32
  c.data.seq_len = MAX_PROMPT_LEN + 64
  c.optim.lr = 3e-4  # experiments/rm_demo.py's
  c.optim.warmup_steps = 20
  c.epochs = 0.0
  c.steps = 100
  c.checkpoint.every = -1
  c.checkpoint.keep = 1
  return c


def _all_scenario_rl() -> ml_collections.ConfigDict:
  """[R1v2 3.2.2]: reasoning and general prompts (`all_scenarios`), the
  accuracy reward on reasoning prompts, the helpfulness RM on general ones
  (span 'summary'), format and language on all; T 0.7, clip ratio 10."""
  c = _grpo("@sft", "r1_chat")
  c.data.task = "all_scenarios"
  c.data.task_kwargs = ml_collections.ConfigDict(dict(
      TASK_KWARGS, general_frac=RL_GENERAL))
  c.rl.host_rewards = True
  c.rl.num_prompts = 8
  c.rl.temperature = 0.7  # [R1v2 3.2.2]
  c.rewards.language = 1.0
  c.reward_scope.accuracy.sources = "reasoning"
  # From the first step (R1: the last 400 of 1,700; this stage is short).
  configlib.add_reward_model(c, "helpfulness", weight=1.0, span="summary",
                             sources="general")
  c.reward_models.helpfulness.init_from = "@reward_model"
  c.reward_report = ("accuracy", "format", "language")
  c.loss.eps_low = c.loss.eps_high = 10.0
  c.steps = 30
  return c


def _evaluate() -> ml_collections.ConfigDict:
  """Held-out problems (stream 1, left out of the corpus) and general
  requests, k=4 at R1's T 0.6 / top-p 0.95, in the R1 stages' r1_chat
  markup."""
  c = eval_config.get_config(
      f"{TASK},{GENERAL},n=4,max_new_tokens={MAX_NEW_TOKENS}")
  c.model.update(FP32)
  e = c.evals[TASK]
  e.loader_kwargs.update(TASK_KWARGS)
  for e in c.evals.values():
    e.task_count = EVAL_PROMPTS
    e.task_seed = EVAL_SEED
    e.template = "r1_chat"
  # General requests: pass@1 is the gold rule's helpfulness; the
  # helpfulness RM's score of the replies (after </think>, normalised by
  # its held-out statistics) is rm_score.
  c.evals[GENERAL].max_new_tokens = 64
  c.reward_model.init_from = "@reward_model"
  c.reward_model.evals = (GENERAL,)
  return c


def get_config() -> ml_collections.ConfigDict:
  stages = {
      "base": _base(),
      # Early, so that every evaluation (R1-Zero's too) reports its score
      # on the general requests; it needs only the base.
      "reward_model": _reward_model(),
      "r1_zero": _grpo("@base", "r1_zero"),
      "cold_start_data": _cold_start_data(),
      # 3 epochs of ~1,900 rows of a layout the base never saw (ours; ~100
      # rows x 4 epochs left it unable to answer: pass@1 0; ~370 rows
      # needed 6).
      "cold_start": _sft("@cold_start_data/sft.jsonl", 3.0),
      "reasoning_rl": _reasoning_rl(),
      "rejection": _rejection(),
      "general_data": _general_data(),
      # R1's 2 epochs [R1v2 B.4.2], of ~2,100 + ~770 rows (of ~400 they
      # left the base unable to use the layout: pass@1 0.07, readable 0.41).
      "sft": _sft("@rejection/sft.jsonl", 2.0),
      "all_scenario_rl": _all_scenario_rl(),
  }
  # R1's non-reasoning SFT samples [R1v2 B.3.3], after the reasoning ones.
  stages["sft"].data.extra_files = ("@general_data/sft.jsonl",)
  # R1-Zero is evaluated in the template it was trained with.
  zero = ml_collections.ConfigDict({"evals": {
      TASK: {"template": "r1_zero"}, GENERAL: {"template": "r1_zero"}}})
  c = pipeline.make_config(
      stages, _evaluate(),
      evaluate_after=("r1_zero", "cold_start", "reasoning_rl", "sft",
                      "all_scenario_rl"),
      evaluate_overrides={"r1_zero": zero})
  # Seed of every stage (ours): model init, data order, rollouts and
  # samples; each stage's seed fields are references to it, so
  # --config.seed=1 reruns the whole chain with another seed. The problem
  # streams (task seeds above) and the evaluation's draws stay fixed: every
  # seed is scored on the same held-out problems.
  c.seed = 0
  for s in c.stages.values():
    s.seed = c.get_ref("seed")
    if s.stage in ("pretrain", "sft", "reward_model"):
      # Document / pair order (RL's is a task stream).
      s.data.seed = c.get_ref("seed")
  return c
