"""Shared helpers for the trainer tests: tiny stage configs, metrics rows."""
import json
import os
import signal
import shutil
from typing import Any, NamedTuple

import jax
import numpy as np

from configs import generate as generate_config
from configs import r1_zero as r1_zero_config
from configs import sft as sft_config
from r1jax import tokenizers as tok_lib
from r1jax.data import tasks, templates
from r1jax.trainers import rl_data


def tokenizer(directory: str) -> str:
  """A small SentencePiece model trained on the tiny task's prompts."""
  path = os.path.join(directory, "tok")
  if not os.path.exists(path + ".model"):
    ex = tasks.get("arithmetic", num_ops=1).examples(0, 0, 300)
    texts = [templates.render("plain", e["prompt"]) + f" <think> {e['prompt']}"
             f" </think> <answer> {e['answer']} </answer>" for e in ex]
    tok_lib.train_sentencepiece(texts, path, vocab_size=300)
  return path + ".model"


def bpe_tokenizer_json(directory: str, special_tokens, corpus,
                       vocab_size: int = 300, added=()) -> str:
  """A byte-level BPE `directory/tokenizer.json` trained on `corpus`, with
  `special_tokens` and (non-special) `added` tokens."""
  # pylint: disable=g-import-not-at-top
  import tokenizers as hf_tokenizers
  from tokenizers import decoders, models, pre_tokenizers, trainers
  # pylint: enable=g-import-not-at-top
  t = hf_tokenizers.Tokenizer(models.BPE())
  t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  t.decoder = decoders.ByteLevel()
  t.train_from_iterator(corpus, trainers.BpeTrainer(
      vocab_size=vocab_size, special_tokens=list(special_tokens),
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  if added:
    t.add_tokens([hf_tokenizers.AddedToken(s, special=False) for s in added])
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, "tokenizer.json")
  t.save(path)
  return path


def hf_tokenizer(directory: str) -> tok_lib.Tokenizer:
  """A byte-level BPE tokenizer.json whose EOS `<|im_end|>` is a special
  token (Qwen-style); the R1 tags are added (not special) tokens."""
  corpus = ["<think> 12 + 30 = 42, wait, check it </think> <answer> 42 "
            "</answer>", "The answer is \\frac{1}{2}. (B)"] * 50
  bpe_tokenizer_json(directory, ["<|endoftext|>", "<|im_end|>"], corpus,
                     added=tok_lib.R1_SPECIAL_TOKENS)
  with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
    json.dump({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, f)
  return tok_lib.load(directory)


def grpo_config(tok_path: str, **overrides):
  c = r1_zero_config.get_config("tiny")
  c.tokenizer = tok_path
  c.template = "plain"
  c.max_prompt_len = 64
  c.data.task_kwargs = {"num_ops": 1}
  c.rl.num_prompts = 4
  c.rl.group_size = 4
  c.rl.max_new_tokens = 8
  c.eval.num_prompts = 0
  c.steps = 4
  c.checkpoint.every = -1
  c.log.samples_every = 2
  c.log.curves = False  # matplotlib's import is seconds per run
  c.update_from_flattened_dict(overrides)
  return c


def sft_config_tiny(**overrides):
  c = sft_config.get_config("tiny")
  c.data.corpus_kwargs = {"num_docs": 200}
  c.data.batch_size = 8
  c.data.seq_len = 64
  c.vocab_size = 300
  c.steps = 4
  c.checkpoint.every = -1
  c.update_from_flattened_dict(overrides)
  return c


def metric_rows(workdir: str, drop_prefix=("time/",)) -> dict[int, dict]:
  """step -> merged metrics of metrics.jsonl, timing keys dropped."""
  rows: dict[int, dict] = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      step = r.pop("step")
      rows.setdefault(step, {}).update(
          {k: v for k, v in r.items() if not k.startswith(drop_prefix)})
  return rows


def multiprocess_grpo(tok_path: str):
  return grpo_config(tok_path, **{"mesh.shape": (2, 2, 2), "steps": 2,
                                  "eval.num_prompts": 4, "eval.k": 2,
                                  "rl.microbatches": 2})


def multiprocess_sft(tok_path: str):
  return sft_config_tiny(**{"tokenizer": tok_path, "mesh.shape": (2, 2, 2),
                            "steps": 2, "data.microbatches": 2})


def multiprocess_pipeline(tok_path: str):
  """A pipeline of two SFT stages, the second from the first ("@first"),
  evaluated after the second (every process joins each stage)."""
  from configs import eval as eval_config  # pylint: disable=g-import-not-at-top
  from r1jax.trainers import pipeline  # pylint: disable=g-import-not-at-top
  second = multiprocess_sft(tok_path)
  second.init_from = "@first"
  second.data.corpus_kwargs.seed = 5
  e = eval_config.get_config("arithmetic,n=2,max_new_tokens=4,batch_rows=8")
  e.model.dtype = e.model.param_dtype = "float32"
  e.mesh.shape = (8, 1, 1)
  e.evals.arithmetic.task_count = 4
  e.evals.arithmetic.loader_kwargs = {"num_ops": 1}
  e.evals.arithmetic.template = "plain"
  return pipeline.make_config(
      {"first": multiprocess_sft(tok_path), "second": second}, e,
      evaluate_after=("second",))


def rl_jsonl(directory: str, count: int = 64, name: str = "rl.jsonl") -> str:
  """Prompts of the tiny arithmetic task as a JSONL file (prompt and answer
  only: the accuracy reward checks them with math-verify)."""
  path = os.path.join(directory, name)
  if not os.path.exists(path):
    ex = tasks.get("arithmetic", num_ops=1).examples(0, 0, count)
    with open(path, "w") as f:
      f.writelines(json.dumps({"prompt": e["prompt"],
                               "answer": str(e["answer"])}) + "\n"
                   for e in ex)
  return path


def multiprocess_grpo_host(tok_path: str, train_file: str):
  """Host rewards (math-verify workers, format) and an HF export; the
  params are sharded across processes (fsdp 4), so exporting them takes a
  collective of all processes."""
  return grpo_config(tok_path, **{
      "mesh.shape": (1, 4, 2), "steps": 2, "rl.microbatches": 2,
      "rl.host_rewards": True, "data.train_file": train_file,
      "reward_options.accuracy.num_workers": 1,
      "checkpoint.export_hf": True})


def multiprocess_generate(tok_path: str, prompts: str):
  """The generate stage: a tiny random model on a prompts file, 8 sample
  rows per batch, a chain that keeps some samples (nothing is correct)."""
  c = generate_config.get_config("r1")
  c.model.preset = "tiny"
  c.model.dtype = c.model.param_dtype = "float32"
  c.tokenizer = tok_path
  c.prompts.file = prompts
  c.prompts.template = "plain"
  c.prompts.n = 2
  c.prompts.max_new_tokens = 6
  c.filters = ("trim_after_answer", "dedupe")
  c.max_per_prompt = 1
  c.batch_rows = 8
  c.mesh.shape = (2, 2, 2)
  return c


def eval_model_dir(data: str, tok_path: str) -> str:
  """DATA/eval_model: a random Llama-shaped HF directory with the
  SentencePiece tokenizer beside it (written once, by the test)."""
  d = os.path.join(data, "eval_model")
  if not os.path.exists(os.path.join(d, "config.json")):
    from tests.models import hf_refs  # pylint: disable=g-import-not-at-top
    hf_refs.make_hf_model("llama_tied", vocab_size=320).save_pretrained(d)
    shutil.copy(tok_path, os.path.join(d, tok_lib.SP_MODEL_FILE))
  return d


def multiprocess_eval(model_dir: str, continuous: int = 0, rm: str = ""):
  """The eval stage on a synthetic task, rows spread over every device of
  both processes (each writes its shard); `continuous` > 0: continuous
  batching with that many units queued per call over the 8 slots; `rm`: a
  reward model scores the samples too."""
  from configs import eval as eval_config  # pylint: disable=g-import-not-at-top
  c = eval_config.get_config("arithmetic,n=3,max_new_tokens=5,batch_rows=8")
  c.init_from = model_dir
  c.model.dtype = c.model.param_dtype = "float32"
  c.mesh.shape = (8, 1, 1)
  c.evals.arithmetic.task_count = 7
  c.evals.arithmetic.loader_kwargs = {"num_ops": 1}
  c.evals.arithmetic.continuous_batching = continuous
  c.reward_model.init_from = rm
  c.reward_model.span = "full"
  return c


class Rollout(NamedTuple):
  """The fields of `sampling.Completions` that host rewards read."""
  tokens_BxM: Any
  length_B: Any
  truncated_B: Any


def rollout(tok, texts, eos, mesh) -> tuple[Rollout, Rollout]:
  """(global arrays on `mesh`, numpy) of completions as the sampler returns
  them: `texts` encoded, EOS appended where `eos`, padded after; lengths
  replicated (a sharding other than the tokens')."""
  ids = [tok.encode(t) + ([tok.eos_id] if e else [])
         for t, e in zip(texts, eos)]
  tokens = np.full((len(ids), max(len(x) for x in ids) + 2), tok.pad_id,
                   np.int32)
  for i, x in enumerate(ids):
    tokens[i, :len(x)] = x
  host = Rollout(tokens, np.array([len(x) for x in ids], np.int32),
                 ~np.array(eos))
  return Rollout(rl_data.place(host.tokens_BxM, mesh, ("act_batch", None)),
                 rl_data.place(host.length_B, mesh, (None,)),
                 rl_data.place(host.truncated_B, mesh, ("act_batch",))), host


def reward_cases() -> tuple[list[str], list[dict], list[bool]]:
  """16 (completion, example, ends in EOS): task, math-verify and choice
  answers, right and wrong, formatted or not, truncated or not."""
  texts = ["<think> 12 + 30 = 42 </think> <answer> 42 </answer>",
           "<think> wait, check </think> <answer> 41 </answer>",
           "<think> x </think> <answer> \\frac{1}{2} </answer>",
           "<think> x </think> <answer> 0.5 </answer> more",
           "it is B. Answer: B", "<answer> B </answer>",
           "<think> check, wait </think>", ""] * 2
  arith = {"prompt": "12 + 30", "answer": "42", "task": "arithmetic"}
  half = {"prompt": "half", "answer": "1/2"}
  pick = {"prompt": "pick", "answer": "B", "answer_type": "choice"}
  examples = [arith, dict(arith, prompt="12 + 29"), half, half, pick, pick,
              arith, half] * 2
  return texts, examples, [True, False] * 8


# Host reward weights that make every computed reward count.
REWARD_WEIGHTS = dict(accuracy=1.0, format=0.5, truncation=0.25,
                      repetition=0.1)


def all_rows_reference(tok, host, examples, options):
  """What `score_rollout` must give: every row scored in one process by
  `compute_rewards` (plus the reflective-word metrics). Returns (total_B,
  metrics, batch)."""
  from r1jax.rewards import decode as decode_lib  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import registry, total  # pylint: disable=g-import-not-at-top
  batch = registry.RewardBatch(
      decode_lib.decode(tok, host.tokens_BxM, host.length_B), examples,
      lengths_B=host.length_B, truncated_B=host.truncated_B)
  want_B, want = total.compute_rewards(batch, REWARD_WEIGHTS, options)
  want.update(rl_data.text_metrics(batch.completions, False))
  return want_B, want, batch


def params_of(workdir: str) -> list:
  """The leaves of the model params a workdir hands on (init_from)."""
  from r1jax import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  return jax.tree.leaves(ckpt_lib.init_from(workdir)[1])


def max_diff(a, b) -> float:
  """Largest absolute difference between two lists of arrays."""
  return max(float(np.max(np.abs(np.asarray(x, np.float32)
                                 - np.asarray(y, np.float32))))
             for x, y in zip(a, b))


def sigterm_at(monkeypatch, at_step: int):
  """The next `loop.run` gets a real SIGTERM right after dispatching step
  `at_step` (0-based: the preemption path); later runs are left alone."""
  from r1jax.trainers import loop  # pylint: disable=g-import-not-at-top
  orig = loop.run

  def run(c, workdir, carry, hooks, **kw):
    step = hooks.step

    def killing(carry, s):
      out = step(carry, s)
      if s == at_step:
        os.kill(os.getpid(), signal.SIGTERM)
      return out

    hooks.step = killing
    monkeypatch.setattr(loop, "run", orig)
    return orig(c, workdir, carry, hooks, **kw)

  monkeypatch.setattr(loop, "run", run)


def assert_rerun_runs_nothing(rerun, workdir: str, names) -> None:
  """Calls `rerun()` (the same pipeline command again, a subprocess
  result) and asserts it succeeded leaving every stage's marker as it
  was: no finished stage ran again."""
  from r1jax.trainers import pipeline  # pylint: disable=g-import-not-at-top
  markers = {n: pipeline.read_marker(os.path.join(workdir, n))
             for n in names}
  r = rerun()
  assert r.returncode == 0, r.stderr[-3000:]
  for n, m in markers.items():
    assert pipeline.read_marker(os.path.join(workdir, n)) == m, n
