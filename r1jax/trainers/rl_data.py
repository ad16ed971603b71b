"""RL prompts (synthetic tasks or JSONL) and held-out evaluation.

The prompts of step s are a pure function of (seed, s): resuming at step s
replays exactly the prompts an uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding

from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import benchmarks, jsonl, tasks, templates
from r1jax.evaluation import runner
from r1jax.rewards import extract
from r1jax.rewards import registry as reward_registry
from r1jax.rewards.repetition import reflective_count
from r1jax.sampling import Sampling, left_pad


def _load(fmt: str, path: str) -> list[dict[str, Any]]:
  """A benchmark file in a named format, or r1jax's RL JSONL."""
  return benchmarks.load(fmt, path) if fmt else jsonl.load_rl(path)


class Prompts:
  """Training and held-out examples of a task or a JSONL file."""

  def __init__(self, c):
    self.task = None
    self.records = None
    if c.data.train_file:
      fmt = c.data.get("format", "")
      self.records = _load(fmt, c.data.train_file)
      eval_fmt = c.data.get("eval_format", "") or fmt
      self.eval_records = (_load(eval_fmt, c.data.eval_file)
                           if c.data.eval_file else [])
    else:
      self.task = tasks.get(c.data.task, **dict(c.data.task_kwargs))
    self.seed, self.eval_seed = c.data.seed, c.data.eval_seed

  def train(self, step: int, count: int) -> list[dict[str, Any]]:
    if self.task is not None:
      return self.task.examples(self.seed, step * count, count)
    n = len(self.records)
    out = []
    for i in range(step * count, (step + 1) * count):
      epoch, j = divmod(i, n)
      order = np.random.default_rng((self.seed, epoch)).permutation(n)
      out.append(self.records[order[j]])
    return out

  def held_out(self, count: int) -> list[dict[str, Any]]:
    if self.task is not None:
      return self.task.examples(self.eval_seed, 0, count)
    return list(self.eval_records[:count])

  def verify(self, answer: str | None, example) -> bool:
    if self.task is not None:
      return self.task.verify(answer, example)
    batch = reward_registry.RewardBatch(
        [f"<answer>{answer}</answer>" if answer is not None else ""],
        [example])
    return bool(reward_registry.get("accuracy")(batch).values_B[0] > 0)


def encode_prompts(tok: tok_lib.Tokenizer, prompter: templates.Prompter,
                   examples: Sequence[dict], length: int):
  """(tokens_PxT, mask_PxT) numpy, left-padded to `length`; one BOS at
  most (templates that write BOS themselves get none added)."""
  ids = [tok_lib.encode_prompt(tok, prompter.render(e["prompt"]))
         for e in examples]
  longest = max(len(x) for x in ids)
  if longest > length:
    raise ValueError(f"a prompt has {longest} tokens > config.max_prompt_len"
                     f"={length}")
  return left_pad(ids, tok.pad_id, length)


def check_prompt_lengths(tok: tok_lib.Tokenizer,
                         prompter: templates.Prompter, prompts: Prompts,
                         length: int, eval_count: int,
                         task_sample: int = 256) -> None:
  """Fails at start-up, not mid-run, when a prompt exceeds `length`: every
  record of a file (training and held-out), or for a synthetic task its
  held-out prompts and the first `task_sample` training prompts."""
  if prompts.records is not None:
    groups = (("config.data.train_file", prompts.records),
              ("config.data.eval_file", prompts.eval_records))
  else:
    groups = ((f"config.data.task={prompts.task.name!r}",
               prompts.train(0, task_sample)),
              ("held-out prompts", prompts.held_out(eval_count)))
  for where, examples in groups:
    for i, e in enumerate(examples):
      n = len(tok_lib.encode_prompt(tok, prompter.render(e["prompt"])))
      if n > length:
        raise ValueError(
            f"{where}: prompt {i} has {n} tokens with config.template="
            f"{prompter.name!r} > config.max_prompt_len={length}; raise "
            "config.max_prompt_len or drop long prompts")


def place(x, mesh, names) -> jax.Array:
  """A host array every process holds in full -> a global sharded array."""
  x = np.asarray(x)
  spec = shd.spec_for(x.shape, names, shd.DEFAULT_RULES, mesh)
  return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec),
                                      lambda idx: x[idx])


def device_answers(task, examples, mesh) -> dict:
  rows = [task.device_answer(e) for e in examples]
  return {k: place(np.stack([r[k] for r in rows]), mesh,
                   ("act_batch",) + (None,) * np.ndim(rows[0][k]))
          for k in rows[0]}


def reflective_counts(completions: Sequence[str],
                      think_opened: bool) -> np.ndarray:
  """R1's reflective words in each completion's chain of thought."""
  return np.array([reflective_count(extract.think_section(t, think_opened))
                   for t in completions], np.int64)


def text_metrics(completions: Sequence[str], think_opened: bool,
                 reward_B=None, group_size: int = 0) -> dict:
  """Host metrics of decoded completions: R1's reflective-word curve, and
  with the rollouts' rewards `reflection/advantage`."""
  counts = reflective_counts(completions, think_opened)
  out = {"reflection/words_mean": float(np.mean(counts)),
         "reflection/frac_any": float(np.mean(counts > 0))}
  if reward_B is not None:
    out.update(reflection_advantage(counts, reward_B, group_size))
  return out


def reflection_advantage(counts_B, reward_B, group_size: int) -> dict:
  """`reflection/advantage`: the mean group-normalised advantage
  ((r - group mean) / population std of the group, as GRPO's
  `group_std`) of the rollouts whose chain of thought has a reflective
  word (`counts_B` > 0): > 0 when reflecting pays, so RL selects it.
  Absent when no rollout reflects."""
  r = np.asarray(reward_B, np.float64).reshape(-1, group_size)
  adv = ((r - r.mean(1, keepdims=True))
         / (r.std(1, keepdims=True) + 1e-6)).reshape(-1) \
      if group_size > 1 else np.zeros(r.size)
  any_B = np.asarray(counts_B) > 0
  if not any_B.any():
    return {}
  return {"reflection/advantage": float(adv[any_B].mean())}


def held_out_protocol(c, prompts: Prompts, prompter: templates.Prompter,
                      stop_ids, seed: int) -> runner.Protocol | None:
  """The trainers' held-out evaluation (config.eval) as a runner protocol;
  None without held-out prompts."""
  e = c.eval
  examples = prompts.held_out(e.num_prompts)
  if not examples:
    return None
  batch = e.batch_prompts or (c.rl.num_prompts * c.rl.oversample
                              // c.rl.rollout_chunks)
  return runner.Protocol(
      name="held_out", benchmark=c.data.task or c.data.eval_file,
      examples=examples, n=e.k, prompter=prompter,
      sampling=Sampling(temperature=e.temperature, top_p=e.top_p),
      max_new_tokens=e.max_new_tokens or c.rl.max_new_tokens,
      batch_rows=batch * e.k, stop_ids=tuple(stop_ids), seed=seed)


def evaluate(params, cfg, tok, prompts: Prompts, c, mesh, stop_ids,
             seed: int, prompter: templates.Prompter,
             samples: list | None = None,
             rules=shd.DEFAULT_RULES) -> dict[str, float]:
  """Held-out pass@1 over k samples and cons@k through the eval stage's
  runner (the same sampling, scoring and metrics), as `eval/...` metrics;
  eval/format is the strict R1-Zero format reward's rate.

  `samples`, when given, receives one {"example", "texts", "correct"} per
  prompt (experiments/demo_styles.py reads the answers this way).
  """
  protocol = held_out_protocol(c, prompts, prompter, stop_ids, seed)
  if protocol is None:
    return {}
  model = runner.Model(params=params, cfg=cfg, tok=tok, mesh=mesh,
                       rules=rules)
  records, m = runner.evaluate(model, protocol)
  k = protocol.n
  texts = [r["completion"] for r in records]
  fmt = reward_registry.get("format")(reward_registry.RewardBatch(
      texts, [protocol.examples[r["problem"]] for r in records]),
      think_opened=prompter.think_opened).values_B
  if samples is not None:
    for i, ex in enumerate(protocol.examples):
      rows = records[i * k:(i + 1) * k]
      samples.append({"example": ex, "texts": [r["completion"] for r in rows],
                      "correct": [r["correct"] for r in rows]})
  out = {f"eval/{name}": float(v) for name, v in m.items()
         if isinstance(v, (int, float)) and not name.startswith("cons@")}
  # Names kept from before the runner: cons@k, best@k (= unbiased pass@k at
  # k = n), length_mean, format.
  out["eval/cons@k"] = float(m[f"cons@{k}"])
  out["eval/cons@k_stderr"] = float(m[f"cons@{k}_stderr"])
  out["eval/best@k"] = float(m[f"pass@{k}"]) if k > 1 else float(m["pass@1"])
  out["eval/k"] = float(k)
  out["eval/length_mean"] = float(m["length/mean"])
  out["eval/format"] = float(np.mean(fmt))
  # R1's reflective-word curve on the held-out answers too (T=0.6), and
  # standard errors over prompts of it and of the length.
  words = reflective_counts(texts, prompter.think_opened)
  out["eval/reflection/words_mean"] = float(np.mean(words))
  out["eval/reflection/frac_any"] = float(np.mean(words > 0))
  for name, values in (("length_mean", [r["length"] for r in records]),
                       ("reflection/words_mean", words)):
    per_prompt = np.asarray(values, np.float64).reshape(-1, k).mean(1)
    out[f"eval/{name}_stderr"] = float(
        per_prompt.std(ddof=1) / np.sqrt(len(per_prompt))
        if len(per_prompt) > 1 else 0.0)
  return out
