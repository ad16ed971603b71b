r"""Supervised fine-tuning and pretraining: cold-start SFT, distillation,
rejection-sampling SFT, or pretraining a tiny base model.

  # SFT on {prompt, completion} JSONL (loss on completions only); the
  # default variant, `sft`, needs config.data.train_file:
  python -m r1jax.main --config=configs/sft.py \
      --config.data.train_file=traces.jsonl \
      --config.init_from=/ckpt/Qwen2.5-1.5B --workdir=/tmp/sft
  # At scale (e.g. open-r1/OpenR1-Math-220k's data/*.parquet): tokenize
  # once, then stream from disk (r1jax/data/prepared):
  python experiments/prepare_sft.py --input data/*.parquet --kind=chat \
      --out=/data/openr1 --tokenizer=/ckpt/Qwen2.5-1.5B
  python -m r1jax.main --config=configs/sft.py \
      --config.data.prepared_dir=/data/openr1 \
      --config.init_from=/ckpt/Qwen2.5-1.5B --workdir=/tmp/sft
  # Pretrain a tiny model on a generated corpus (CPU, minutes):
  python -m r1jax.main --config=configs/sft.py:tiny --workdir=/tmp/base

Variants: `sft` (default) the R1 SFT settings below, on your file; `tiny`
a generated corpus (`config.data.corpus`), small sizes. A train_file and a
corpus both set is an error (sft.validate), never one silently ignored.

Sources: R1 SFT settings [R1v2 B.4.2]: 2 epochs, lr 5e-6, batch 64, cosine
decay to 0.1x; distillation [R1v2 B.4.3]: 2-3 epochs, cosine to 0.1x.
"""

import ml_collections

from r1jax import configlib


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="sft", runlocal=False)
  c = ml_collections.ConfigDict()
  c.stage = "sft"
  c.seed = 0
  # A workdir that holds a run is continued only by the config that started
  # it (the fields that change results, r1jax/runinfo.py); any other stops
  # before running, naming the fields. auto | force (continue anyway and
  # record the change in workdir/history.jsonl).
  c.resume = "auto"
  c.model = configlib.model_block(preset="tiny")
  # Hugging Face directory or r1jax workdir to start from; empty = a
  # random `config.model.preset` (pretraining).
  c.init_from = ""
  c.tokenizer = ""
  # SentencePiece vocabulary size when a tokenizer is trained here.
  c.vocab_size = 400
  c.mesh = configlib.mesh_block()

  c.data = ml_collections.ConfigDict()
  # JSONL file (REQUIRED unless `corpus` is set); with text_field set,
  # plain-text pretraining documents.
  c.data.train_file = ""
  # More JSONL files with the same fields, read after train_file (R1's
  # stage-3 SFT: the rejection samples + the non-reasoning data).
  c.data.extra_files = ()
  c.data.prompt_field = "prompt"
  c.data.completion_field = "completion"
  c.data.text_field = ""
  # Or a generated corpus (r1jax.data.corpora) and its arguments; never
  # together with train_file.
  c.data.corpus = ""
  c.data.corpus_kwargs = ml_collections.ConfigDict()
  # Or a directory written by experiments/prepare_sft.py (tokenized once,
  # sharded): streamed from disk with bounded host memory, each host reading
  # only its rows; never together with train_file or corpus. Its tokenizer
  # must be the model's (checked); with no tokenizer configured, the copy
  # saved in the directory is used.
  c.data.prepared_dir = ""
  # Batches read ahead on a background thread (0 = none).
  c.data.prefetch = 2
  # Packed rows per step and tokens per row [R1 SFT: batch 64 x 32768].
  c.data.batch_size = 64
  c.data.seq_len = 4096
  # Gradient accumulation: the step's rows in this many micro-batches.
  c.data.microbatches = 1
  c.data.seed = 0

  c.optim = configlib.optim_block(lr=5e-6, warmup_steps=100,
                                  schedule="cosine")
  c.optim.weight_decay = 0.0
  # Optimizer updates. With `epochs` > 0 they are computed from the data
  # instead: epochs x batches per epoch (the papers' unit for SFT: R1 2
  # epochs [R1v2 B.4.2], distillation 2-3 [R1v2 B.4.3]).
  c.steps = 1000
  c.epochs = 0.0
  # Held-out evaluation through the eval stage's runner: evaluators by name
  # (configs/eval.py eval_block), e.g. in a config file
  #   c.evals.math500 = eval_config.eval_block("math500", n=4)
  # run at the start, every `eval.every` steps and at the end.
  c.eval = ml_collections.ConfigDict()
  c.eval.every = 0  # steps; 0 = only at the start and the end
  c.eval.batch_rows = 64  # sample rows per sampler call, all devices
  c.eval.math_timeout_s = 5.0
  c.evals = ml_collections.ConfigDict()
  c.log = configlib.log_block()
  c.checkpoint = configlib.checkpoint_block()

  if a.variant == "tiny":
    c.data.corpus = "task_answers"
    c.data.corpus_kwargs = ml_collections.ConfigDict(
        dict(task="arithmetic", num_docs=2000))
    c.optim.lr = 3e-3
  elif a.variant == "base":
    # The README walk-through's base model: the demo's pretraining (:short)
    # on arithmetic in the R1-Zero template, so that configs/r1_zero.py:tiny
    # (same task and template) has reward signal. Held-out prompts of
    # r1_zero.py:tiny (eval seed 1, 64 prompts) are left out of the corpus.
    c.vocab_size = 768
    # SentencePiece training options (r1jax.tokenizers.train_sentencepiece).
    c.tokenizer_options = ml_collections.ConfigDict(dict(
        split_by_whitespace=False, split_by_unicode_script=False,
        max_sentencepiece_length=64))
    c.data.corpus = "r1_zero_base"
    c.data.corpus_kwargs = ml_collections.ConfigDict(dict(
        num_docs=8000, num_ops=2, max_operand=5, exclude_seed=1,
        exclude_count=64))
    c.model.preset = "small"
    c.model.overrides = ml_collections.ConfigDict(dict(
        num_layers=4, embed_dim=128, num_heads=4, num_kv_heads=2,
        head_dim=32, mlp_dim=384, max_seq_len=512))
    c.data.batch_size = 4
    c.data.seq_len = 256
    c.optim.lr = 3e-3
    c.optim.warmup_steps = 50
    c.steps = 1000
  elif a.variant != "sft":
    raise ValueError(f"configs/sft.py: unknown variant {a.variant!r}; "
                     "known: sft, tiny, base")
  if a.variant == "tiny" or a.runlocal:
    c.data.batch_size = 16
    c.data.seq_len = 256
    c.optim.warmup_steps = 10
    c.steps = 50
  return c
