r"""Sample k completions per prompt and write them as JSONL.

  python -m r1jax.main --config=configs/generate.py:demo --workdir=/tmp/gen
  python -m r1jax.main --config=configs/generate.py \
      --config.init_from=/ckpt/Qwen2.5-0.5B \
      --config.prompts=/data/prompts.jsonl --workdir=/tmp/gen
  # From a trained r1jax workdir (its last checkpoint and tokenizer):
  python -m r1jax.main --config=configs/generate.py \
      --config.init_from=/tmp/rz --config.prompts=/data/prompts.jsonl \
      --workdir=/tmp/gen_rz

Variants: `demo` (default) samples from a small randomly initialised model
with a SentencePiece tokenizer trained in the workdir on synthetic problems:
it shows the whole path on a CPU, the text is noise until a model is trained.
"""

import ml_collections

from r1jax import configlib


def get_config(arg=None):
  a = configlib.parse_arg(arg, variant="demo")
  c = ml_collections.ConfigDict()
  c.stage = "generate"
  c.seed = 0
  # A workdir that holds a run is continued only by the config that started
  # it (the fields that change results, r1jax/runinfo.py); any other stops
  # before running, naming the fields. auto | force (continue anyway and
  # record the change in workdir/history.jsonl).
  c.resume = "auto"
  # A Hugging Face model directory (config.json + model.safetensors +
  # tokenizer) or an r1jax workdir (its last checkpoint and tokenizer);
  # empty = a random `config.model.preset` (the demo). config.model.hf_dir
  # is a deprecated alias.
  c.init_from = ""
  c.model = configlib.model_block(preset="small")
  c.mesh = configlib.mesh_block()
  # Tokenizer: a .model / tokenizer.json / directory. Empty: the one in
  # config.init_from, or (random model) one trained in the workdir.
  c.tokenizer = ""
  # JSONL of {"prompt": ...}; empty with the demo = built-in problems.
  c.prompts = ""
  c.prompt_field = "prompt"
  # Template applied to each prompt (r1jax.data.templates.TEMPLATES).
  c.template = "r1_zero"
  # chat templates: an optional system prompt [R1 README: none] and text
  # appended after the generation prompt [R1 README: "<think>\n"].
  c.system_prompt = ""
  c.prefill = ""
  # Samples per prompt (k). R1 evaluation: 64 (AIME, GPQA), 16 (MATH).
  c.num_samples = 4
  # Prompts per compiled sampler call.
  c.batch_prompts = 8
  c.max_new_tokens = 64
  c.sampling = ml_collections.ConfigDict()
  # R1 evaluation protocol: temperature 0.6, top-p 0.95 [R1v1 section 3].
  c.sampling.temperature = 0.6
  c.sampling.top_p = 0.95
  c.sampling.top_k = 0
  c.sampling.min_p = 0.0
  # Extra stop strings, each a single token of the tokenizer (EOS always).
  c.stop_tokens = ("</answer>",)
  # KV-cache dtype; empty = compute dtype.
  c.cache_dtype = ""
  c.demo = a.variant == "demo"
  return c
