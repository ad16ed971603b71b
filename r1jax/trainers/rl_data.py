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
from r1jax.evaluation import passk
from r1jax.rewards import extract
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import registry as reward_registry
from r1jax.rewards.repetition import reflective_count
from r1jax.sampling import Sampling, jit_sample, left_pad
from r1jax.trainers import common


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


def text_metrics(completions: Sequence[str], think_opened: bool) -> dict:
  """Host metrics of decoded completions: R1's reflective-word curve."""
  counts = [reflective_count(extract.think_section(t, think_opened))
            for t in completions]
  return {"reflection/words_mean": float(np.mean(counts)),
          "reflection/frac_any": float(np.mean([n > 0 for n in counts]))}


def evaluate(params, cfg, tok, prompts: Prompts, c, mesh, stop_ids,
             rng, prompter: templates.Prompter,
             samples: list | None = None) -> dict[str, float]:
  """pass@1 over k samples and cons@k on the held-out prompts.

  `samples`, when given, receives one {"example", "texts", "correct"} per
  prompt (experiments/demo_styles.py reads the answers this way).
  """
  e = c.eval
  examples = prompts.held_out(e.num_prompts)
  if not examples:
    return {}
  sampling = Sampling(temperature=e.temperature, top_p=e.top_p)
  m = e.max_new_tokens or c.rl.max_new_tokens
  correct, answers, lengths, fmt = [], [], [], []
  batch = e.batch_prompts or (c.rl.num_prompts * c.rl.oversample
                              // c.rl.rollout_chunks)
  think_opened = prompter.think_opened
  fmt_fn = reward_registry.get("format")
  for lo in range(0, len(examples), batch):
    part = examples[lo:lo + batch]
    padded = part + [part[-1]] * (batch - len(part))
    tokens, mask = encode_prompts(tok, prompter, padded, c.max_prompt_len)
    out = common.to_host(jit_sample(
        params, cfg, place(tokens, mesh, ("act_batch", None)),
        place(mask, mesh, ("act_batch", None)), jax.random.fold_in(rng, lo),
        max_new_tokens=m, sampling=sampling, stop_ids=stop_ids,
        num_samples=e.k, pad_id=tok.pad_id))
    for i, ex in enumerate(part):
      rows = slice(i * e.k, (i + 1) * e.k)
      texts = decode_lib.decode(tok, out.tokens_BxM[rows],
                                out.length_B[rows])
      ans = [extract.extract_answer(t) for t in texts]
      answers.append(ans)
      correct.append([prompts.verify(a, ex) for a in ans])
      if samples is not None:
        samples.append({"example": ex, "texts": texts,
                        "correct": correct[-1]})
      lengths.extend(out.length_B[i * e.k:(i + 1) * e.k].tolist())
      fmt.extend(fmt_fn(reward_registry.RewardBatch(
          texts, [ex] * e.k), think_opened=think_opened).values_B.tolist())
  correct_PxK = np.asarray(correct, bool)
  summary = passk.summarize(correct_PxK, answers=answers,
                            references=examples, correct_fn=prompts.verify)
  out = {f"eval/{k}": float(v) for k, v in summary.items()}
  out["eval/length_mean"] = float(np.mean(lengths))
  out["eval/format"] = float(np.mean(fmt))
  return out

