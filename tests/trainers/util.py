"""Shared helpers for the trainer tests: tiny stage configs, metrics rows."""
import json
import os

from configs import generate as generate_config
from configs import r1_zero as r1_zero_config
from configs import sft as sft_config
from r1jax import tokenizers as tok_lib
from r1jax.data import tasks, templates


def tokenizer(directory: str) -> str:
  """A small SentencePiece model trained on the tiny task's prompts."""
  path = os.path.join(directory, "tok")
  if not os.path.exists(path + ".model"):
    ex = tasks.get("arithmetic", num_ops=1).examples(0, 0, 300)
    texts = [templates.render("plain", e["prompt"]) + f" <think> {e['prompt']}"
             f" </think> <answer> {e['answer']} </answer>" for e in ex]
    tok_lib.train_sentencepiece(texts, path, vocab_size=300)
  return path + ".model"


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
  c.checkpoint.every = 0
  c.log.samples_every = 2
  c.update_from_flattened_dict(overrides)
  return c


def sft_config_tiny(**overrides):
  c = sft_config.get_config("tiny")
  c.data.corpus_kwargs = {"num_docs": 200}
  c.data.batch_size = 8
  c.data.seq_len = 64
  c.vocab_size = 300
  c.steps = 4
  c.checkpoint.every = 0
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
  """Host rewards (math-verify workers, format) and an HF export."""
  return grpo_config(tok_path, **{
      "mesh.shape": (2, 2, 2), "steps": 2, "rl.microbatches": 2,
      "rl.host_rewards": True, "data.train_file": train_file,
      "reward_options.accuracy.num_workers": 1,
      "checkpoint.export_hf": True})


def multiprocess_generate(tok_path: str, prompts: str):
  """The generate stage: a tiny random model, prompts in batches of 4."""
  c = generate_config.get_config("demo")
  c.model.preset = "tiny"
  c.tokenizer = tok_path
  c.template = "plain"
  c.prompts = prompts
  c.demo = False
  c.num_samples = 2
  c.batch_prompts = 4
  c.max_new_tokens = 6
  c.mesh.shape = (2, 2, 2)
  return c
