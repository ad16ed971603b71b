r"""Rejection sampling: k completions per prompt, scored, filtered -> SFT data.

  # R1 stage 3: sample an RL checkpoint on maths prompts with reference
  # answers, keep correct, readable, single-language traces:
  python -m r1jax.main --config=configs/generate.py \
      --config.init_from=/ckpt/r1_stage1 \
      --config.prompts.benchmark=file \
      --config.prompts.file=/data/prompts.parquet \
      --config.decontaminate.math500=/data/MATH-500/test.jsonl \
      --workdir=/tmp/rs
  # Then SFT a model on what was kept (the student's template is
  # config.target; `sft` reads the file unchanged):
  python -m r1jax.main --config=configs/sft.py \
      --config.data.train_file=/tmp/rs/sft.jsonl \
      --config.init_from=/ckpt/Qwen2.5-Math-1.5B --workdir=/tmp/student
  # A synthetic task from a model r1jax trained (CPU):
  python -m r1jax.main --config=configs/generate.py:arithmetic \
      --config.init_from=/tmp/demo/rl --workdir=/tmp/rs_demo

Variants: `r1` (default) prompts from `config.prompts.file` sampled with the
model's chat template; a synthetic task name (`arithmetic`, `countdown`, ...)
its problems in the R1-Zero template; `demo` a random model on arithmetic
prompts (the whole path on a CPU; nothing it writes is correct);
`cold_start` R1's cold-start data from an R1-Zero checkpoint of the R1
miniature (multilingual arithmetic, corpus `r1_base`), rewritten into R1's
readable layout for an r1_chat student:
  python -m r1jax.main --config=configs/generate.py:cold_start \
      --config.init_from=/tmp/r1zero/rl --workdir=/tmp/cold_start

Outputs in the workdir (trainers/generate.py): generations.jsonl (every
sample: its scores, rewards and the filter that rejected it), sft.jsonl
({prompt, completion} of the kept samples), filter_report.json and
filter_report.md (kept/rejected per filter; acceptance against prompt
difficulty), and shards/ (per-process samples a rerun resumes from).

Sources: [R1v1 2.3.3, R1v2 B.3.3] correct answers only; chains of thought
with mixed languages, long paragraphs or code blocks removed. [R1v2 B.3.2]
cold-start data sampled at T = 1.0 with repetition and language-mixing
filters. Sampling defaults below: R1's recommended settings (T 0.6, top-p
0.95, 32,768 tokens); the stage-3 sampling settings are not published.
"""

import ml_collections

from configs import eval as eval_config
from r1jax import configlib

# The filter chain, in order (r1jax/rejection/filters.py). Cheap checks on
# the text first; `correct` after `summary` (no summary, no final answer);
# dedupe after the trim so that trailing chatter does not hide duplicates.
FILTERS = ("summary", "correct", "language", "long_paragraph", "code_block",
           "repetition", "length", "trim_after_answer", "dedupe",
           "decontaminate")


# Synthetic tasks' chain (the variants named after a task).
TASK_FILTERS = ("correct", "long_paragraph", "code_block", "length",
                "trim_after_answer", "dedupe")

# Cold-start data from R1-Zero's own samples [R1v2 B.3.2]: correct; the
# chain's sentences that drifted into another language put back into the
# prompt's (the refinement's language repair, by rule for the miniature's
# sentence templates: r1jax/rejection/translate.py); single-language (what
# the rule could not repair is rejected), not repetitive, then rewritten
# into R1's readable layout (r1jax/rejection/readable.py);
# `readable_layout` rejects any sample the rewrite could not lay out.
COLD_START_FILTERS = ("correct", "translate", "language", "repetition",
                      "length", "readable", "readable_layout", "dedupe")


def _task_names():
  from r1jax.data import tasks  # pylint: disable=g-import-not-at-top
  return tasks.names()


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="r1", runlocal=False)
  tasks = _task_names()
  if a.variant not in ("r1", "demo", "cold_start", *tasks):
    raise ValueError(f"configs/generate.py: unknown variant {a.variant!r}; "
                     f"known: r1, demo, cold_start, {', '.join(tasks)}")
  c = ml_collections.ConfigDict()
  c.stage = "generate"
  c.seed = 0
  # A workdir that holds a run is continued only by the config that started
  # it (the fields that change results, r1jax/runinfo.py); any other stops
  # before running, naming the fields. auto | force.
  c.resume = "auto"
  # The model to sample (the teacher): a Hugging Face model directory or an
  # r1jax workdir (its last checkpoint and tokenizer). Empty only with the
  # demo (a random `config.model.preset`).
  c.init_from = ""
  c.model = configlib.model_block(preset="small")
  # Real models: bfloat16 weights and compute (float32 logits always).
  c.model.param_dtype = "bfloat16"
  c.model.dtype = "bfloat16"
  c.mesh = configlib.mesh_block()
  c.mesh.shape = (-1, 1, 1)  # data parallel: each device samples its rows
  # A tokenizer (.model / tokenizer.json / directory); empty = init_from's.
  c.tokenizer = ""
  # Sample rows (prompt, sample) per compiled sampler call, over all
  # devices (the eval stage's batch_rows: its comment sizes the KV cache).
  c.batch_rows = 64
  c.cache_dtype = ""  # KV-cache dtype; empty = compute dtype
  # Per math-verify call (answer checks, majority grouping), seconds.
  c.math_timeout_s = 5.0

  # PROMPTS and how each is sampled: an evaluator block (configs/eval.py
  # eval_block). `benchmark`: `file` (a JSONL / parquet / CSV of prompts,
  # fields in loader_kwargs), a benchmark loader (math500, gsm8k, ...) or a
  # synthetic task. `n` is k, the samples per prompt; `limit` the first N
  # prompts. A file's prompts without a reference answer (an empty or
  # missing answer field) are scored against the majority answer of their
  # k samples (`majority_reference`). `completions_file`: filter
  # completions made elsewhere (evaluation/external.py formats) instead of
  # sampling. `continuous_batching`: N > 0 samples queues of N with
  # batch_rows cache slots, refilled as rows stop (the same samples).
  p = eval_config.eval_block("file", n=4)
  p.loader_kwargs = ml_collections.ConfigDict(dict(
      prompt_field="prompt", answer_field="answer", id_field="id"))
  c.prompts = p

  # REWARDS recorded with every sample (r1jax/rewards registry): weighted
  # ones make up `total` (what `select_by=total` ranks), those in
  # `reward_report` are recorded with weight 0. Correctness, the filter's
  # criterion, is the eval scorer's (only the text after the last </think>
  # is scored) and is recorded as the reward `correct`.
  c.rewards = ml_collections.ConfigDict()
  c.reward_options = ml_collections.ConfigDict()
  c.reward_report = ("language",)

  # FILTERS applied in this order, each with its own rejection counter;
  # options per filter (defaults: the filter function's signature).
  c.filters = FILTERS
  c.filter_options = ml_collections.ConfigDict()
  # A prompt without a reference takes its samples' majority answer as the
  # reference when at least this fraction of its k samples agree with it
  # (else none of its samples is correct).
  c.majority_reference = True
  c.majority_min_fraction = 0.5
  # Benchmarks to decontaminate against: {benchmark name: file}, loaded
  # with r1jax.data.benchmarks (e.g. --config.decontaminate.math500=...).
  # Required by the `decontaminate` filter; remove it from config.filters
  # to skip decontamination.
  c.decontaminate = ml_collections.ConfigDict()
  # JUDGE: the frozen generative judge of the `judge` filter (add "judge"
  # to config.filters; its option filter_options.judge.threshold, default
  # 0.5, is the least value kept). Loaded only then, after sampling, with
  # the sampled model's tokenizer (it must be the same).
  c.judge = configlib.judge_block()
  # Keep at most this many samples per prompt (0 = all that pass): chosen
  # at random (seeded per prompt) or the best by a reward name or `total`.
  c.max_per_prompt = 0
  c.select_by = "random"

  # TARGET: how sft.jsonl renders each prompt for the model that will be
  # trained on it (text is the interface: the student may be of another
  # family). Empty template / tokenizer = the generation's. The completion
  # has the student's template's opened prefix removed (e.g. "<think>\n");
  # `sft` appends the student tokenizer's EOS id to each completion.
  c.target = ml_collections.ConfigDict()
  c.target.template = ""
  c.target.tokenizer = ""
  c.target.system_prompt = ""
  c.target.prefill = "auto"

  if a.variant in tasks or a.variant in ("demo", "cold_start"):
    task = {"demo": "arithmetic", "cold_start": "multilingual_arithmetic"
            }.get(a.variant, a.variant)
    e = eval_config.eval_block(task, n=4)
    e.loader_kwargs = ml_collections.ConfigDict(
        eval_config._task_knobs(task))  # pylint: disable=protected-access
    e.template, e.prefill, e.question_suffix = "r1_zero", "", ""
    e.max_new_tokens = 64
    e.stop_tokens = ("</answer>",)
    e.task_count = 64
    # Fresh problems: not the trainers' held-out seed (1).
    e.task_seed = 2
    c.prompts = e
    c.batch_rows = 64
    c.model.param_dtype = c.model.dtype = "float32"
    # Synthetic tasks: R1-Zero's template puts the answer in <answer>, not
    # in a summary after </think>; their chains of thought are mostly
    # numbers and symbols, which `language` (no words: 0) and `repetition`
    # would reject; no benchmark to decontaminate against.
    c.filters = TASK_FILTERS
  if a.variant == "cold_start":
    # The R1 miniature's problems (data/r1_corpus.py: 3 operations on 1-5)
    # sampled at R1-Zero's rollout temperature, T 1.0, top-p 1.0 [R1v2
    # B.3.2]; its longest chains are ~180 tokens; 512 prompts x 4 (ours).
    e = c.prompts
    e.loader_kwargs.max_operand = 5
    e.temperature, e.top_p = 1.0, 1.0
    e.max_new_tokens = 192
    e.task_count = 512
    c.filters = COLD_START_FILTERS
    # sft.jsonl in R1's chat markup, as configs/r1.py's cold_start reads it.
    c.target.template = "r1_chat"
  if a.variant == "demo":
    c.prompts.task_count = 16
    c.prompts.max_new_tokens = 16
    c.batch_rows = 32
  return c
