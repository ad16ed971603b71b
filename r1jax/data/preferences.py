"""Preference pairs and labelled responses for reward-model training.

Files are JSONL, JSON, CSV or Parquet (or a directory / list of them, as
`benchmarks.tables.resolve_files` reads; `.jsonl.gz` too, as hh-rlhf ships).
Each row becomes a `Pair` (prompt, chosen, rejected) or, pointwise, a
`Labelled` (prompt, response, label). Published layouts, per row:

- strings, no prompt (Anthropic/hh-rlhf): `chosen` / `rejected` are whole
  dialogues "\\n\\nHuman: ...\\n\\nAssistant: ..."; the prompt is their
  common prefix up to and including its last "\\n\\nAssistant:".
- prompt + strings (trl's explicit-prompt preference format).
- message lists (Skywork/Skywork-Reward-Preference-80K; with a `prompt`
  string beside them, HuggingFaceH4/ultrafeedback_binarized): whole
  conversations; the prompt is their common leading messages.
- a message-list prompt + message-list responses (trl conversational).
- pointwise: `prompt`, `response`, a label column; a response field with
  "{i}" expands a row into several labelled responses
  (PKU-Alignment/PKU-SafeRLHF: response_{i}, is_response_{i}_safe).

Rendering (`encode`): string prompts through a named template
(`templates.make_prompter`; "plain" keeps hh's own markup), string
responses get the tokenizer's EOS, as a finished sampled completion does;
message lists through the model's chat template. Prompts are left-truncated
to fit `max_len` (then the response's start, if it alone is longer), so
the token the reward is read at is always kept. `split` holds out a fraction
of prompts by a stable hash: one prompt is never in both splits.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import random
from typing import Any, Iterator, Sequence

import numpy as np

from r1jax import tokenizers as tok_lib
from r1jax.data import tasks
from r1jax.data.benchmarks import tables
from r1jax.data.tasks import arithmetic
from r1jax.data.tasks import general

HH_ASSISTANT = "\n\nAssistant:"


@dataclasses.dataclass(frozen=True)
class Pair:
  prompt: Any  # str, or a list of chat messages
  chosen: Any  # str, or the messages after the prompt
  rejected: Any
  margin: float = 0.0
  where: str = ""  # "file: row n", for errors


@dataclasses.dataclass(frozen=True)
class Labelled:
  prompt: Any
  response: Any
  label: int  # 1 good / safe, 0 bad / unsafe
  where: str = ""


@dataclasses.dataclass(frozen=True)
class Fields:
  """Column names (config.data.*_field; config.loss.margin)."""
  prompt: str = "prompt"
  chosen: str = "chosen"
  rejected: str = "rejected"
  response: str = "response"
  label: str = "label"
  # "" none; a column; or "a-b", the difference of two columns (e.g.
  # ultrafeedback's score_chosen-score_rejected).
  margin: str = ""


# READ


def _rows(path) -> Iterator[tuple[str, int, dict]]:
  files = []
  for p in (path if isinstance(path, (list, tuple)) else [path]):
    p = os.fspath(p)
    files += [p] if p.endswith(".gz") else tables.resolve_files(p)
  for f in files:
    if not f.endswith(".gz"):
      for n, row in enumerate(tables.iter_table(f), 1):
        yield f, n, row
      continue
    if not f.endswith(".jsonl.gz"):
      raise ValueError(f"{f}: only .jsonl.gz is read compressed")
    with gzip.open(f, "rt", encoding="utf-8") as fh:
      for n, line in enumerate(fh, 1):
        try:
          row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as e:
          raise ValueError(f"{f}: row {n}: invalid JSON ({e.msg})") from e
        if row is not None and not isinstance(row, dict):
          raise ValueError(f"{f}: row {n}: expected a JSON object")
        if row is not None:
          yield f, n, row


def _is_messages(x) -> bool:
  return isinstance(x, (list, tuple)) and all(
      isinstance(m, dict) and "role" in m and "content" in m for m in x)


def _get(row, field: str, where: str, config_field: str):
  if row.get(field) is None:
    raise ValueError(f"{where} has no {field!r} field (fields: "
                     f"{sorted(row)}); set config.data.{config_field}")
  return row[field]


def _margin(row, spec: str, where: str) -> float:
  if not spec:
    return 0.0
  names = [spec] if spec in row or "-" not in spec else spec.split("-", 1)
  vals = []
  for name in names:
    v = row.get(name)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
      raise ValueError(f"{where}: margin column {name!r} (config.loss."
                       f"margin={spec!r}) is missing or not a number: {v!r}")
    vals.append(float(v))
  return vals[0] if len(vals) == 1 else vals[0] - vals[1]


def _hh_split(chosen: str, rejected: str, where: str):
  """(prompt, chosen, rejected) of an hh-rlhf pair of dialogues."""
  n = 0
  for a, b in zip(chosen, rejected):
    if a != b:
      break
    n += 1
  cut = chosen.rfind(HH_ASSISTANT, 0, n)
  if cut < 0 or cut + len(HH_ASSISTANT) > n:
    raise ValueError(f"{where}: chosen and rejected are strings without a "
                     f"prompt field and share no prefix ending in "
                     f"{HH_ASSISTANT!r} (the hh-rlhf layout); add a prompt "
                     "column (config.data.prompt_field)")
  cut += len(HH_ASSISTANT)
  return chosen[:cut], chosen[cut:], rejected[cut:]


def _common_messages(chosen, rejected, where: str):
  """(prompt, chosen, rejected) of two whole conversations."""
  n = 0
  while (n < min(len(chosen), len(rejected)) - 1
         and chosen[n] == rejected[n]):
    n += 1
  if n == 0:
    raise ValueError(f"{where}: chosen and rejected conversations share no "
                     "leading (prompt) message")
  return list(chosen[:n]), list(chosen[n:]), list(rejected[n:])


def pair_from_row(row: dict, fields: Fields, where: str) -> Pair:
  """One row in any of the module's pair layouts -> Pair."""
  chosen = _get(row, fields.chosen, where, "chosen_field")
  rejected = _get(row, fields.rejected, where, "rejected_field")
  prompt = row.get(fields.prompt)
  margin = _margin(row, fields.margin, where)
  if isinstance(chosen, str) and isinstance(rejected, str):
    if isinstance(prompt, str):
      return Pair(prompt, chosen, rejected, margin, where)
    return Pair(*_hh_split(chosen, rejected, where), margin, where)
  if _is_messages(chosen) and _is_messages(rejected):
    if isinstance(prompt, str) and chosen and \
        chosen[0]["role"] == "assistant":
      prompt = [{"role": "user", "content": prompt}]
    if _is_messages(prompt) and prompt:
      return Pair(list(prompt), list(chosen), list(rejected), margin, where)
    return Pair(*_common_messages(chosen, rejected, where), margin, where)
  raise ValueError(f"{where}: {fields.chosen!r} and {fields.rejected!r} "
                   "must both be strings or both be lists of "
                   f"{{role, content}} messages; got "
                   f"{type(chosen).__name__} and {type(rejected).__name__}")


def _label(v, field: str, where: str) -> int:
  if isinstance(v, bool) or v in (0, 1):
    return int(v)
  if isinstance(v, str) and v.lower() in ("true", "false", "0", "1"):
    return int(v.lower() in ("true", "1"))
  raise ValueError(f"{where}: label {field!r} must be 0/1 or a boolean, "
                   f"got {v!r}")


def labelled_from_row(row: dict, fields: Fields, where: str
                      ) -> list[Labelled]:
  """One row -> labelled responses (several when fields use "{i}")."""
  prompt = _get(row, fields.prompt, where, "prompt_field")
  out, i = [], 0
  while True:
    r, l = fields.response.format(i=i), fields.label.format(i=i)
    if i and r not in row:
      return out
    label = _get(row, l, where, "label_field")
    out.append(Labelled(prompt, _get(row, r, where, "response_field"),
                        _label(label, l, where), where))
    if "{i}" not in fields.response:
      return out
    i += 1


def load(path, *, pairwise: bool = True, fields: Fields = Fields()
         ) -> list[Pair] | list[Labelled]:
  """Every row of `path` as Pairs (or Labelled). Errors name the file, the
  row and the field."""
  out = []
  for f, n, row in _rows(path):
    where = f"{f}: row {n}"
    if pairwise:
      out.append(pair_from_row(row, fields, where))
    else:
      out.extend(labelled_from_row(row, fields, where))
  if not out:
    raise ValueError(f"config.data.train_file={path!r}: no rows")
  return out


SYNTHETIC = ("arithmetic", "general_chat")
_SLIPS = (-10, -2, -1, 1, 2, 10)


def _worked(start: int, steps, slip_at: int = -1, slip: int = 0):
  """Worked steps "a+b=c." left to right, the result of step `slip_at`
  off by `slip` and carried on; (text, final value)."""
  value, parts = start, []
  for k, (op, operand) in enumerate(steps):
    true = {"+": value + operand, "-": value - operand,
            "*": value * operand}[op]
    parts.append(f"{value}{op}{operand}={true + slip * (k == slip_at)}.")
    value = true + slip * (k == slip_at)
  return " ".join(parts), value


def synthetic(task: str = "arithmetic", num_prompts: int = 2000,
              seed: int = 0, pairwise: bool = True, **kwargs
              ) -> list[Pair] | list[Labelled]:
  """Generated preferences, `num_prompts` pairs (pointwise: both responses
  of each, labelled 1 and 0), by `task`:
  - arithmetic (`_arithmetic`'s kwargs): a worked chain preferred to one
    that slips a step;
  - general_chat (kwargs: lang): a helpful reply to a greet / thank /
    goodbye request preferred to an unhelpful one (tasks.general)."""
  if task not in SYNTHETIC:
    raise ValueError(f"synthetic preferences: task {task!r}; known: "
                     f"{SYNTHETIC}")
  if task == "general_chat":
    pairs = [(e, good, bad) for e, good, bad in general.preference_pairs(
        num_prompts, seed, **kwargs)]
  else:
    pairs = _arithmetic(num_prompts, seed, **kwargs)
  out = []
  for e, good, bad in pairs:
    where = f"synthetic {e['id']}"
    if pairwise:
      out.append(Pair(e["prompt"], good, bad, 0.0, where))
    else:
      out += [Labelled(e["prompt"], good, 1, where),
              Labelled(e["prompt"], bad, 0, where)]
  return out


def _arithmetic(num_prompts: int, seed: int, num_ops: int = 2,
                max_operand: int = 5, ops: str = "+-*"):
  """(example, chosen, rejected) on `tasks.arithmetic` prompts (no
  division; chains using only `ops`): chosen works the chain out right,
  `<think> 3+4=7. 7*2=14. </think> <answer> 14 </answer>`; rejected slips
  once (one step off by 1, 2 or 10, carried on to a wrong answer). A
  held-out prompt is a new chain of steps seen in training, so checking
  steps generalises."""
  if not ops or set(ops) - set("+-*"):
    raise ValueError(f"synthetic preferences: ops={ops!r}; use some of "
                     "'+-*'")
  t = tasks.get("arithmetic", num_ops=num_ops, max_operand=max_operand,
                allow_division=False)
  out, i = [], -1
  while len(out) < num_prompts:
    i += 1
    # The same draws as `generate`, for the chain's steps.
    start, steps, _ = arithmetic.make_chain(t.rng(seed, i), num_ops,
                                            max_operand, False)
    if any(op not in ops for op, _ in steps):
      continue
    rng = random.Random(f"preferences/{seed}/{i}")
    good, bad = (f"<think> {text} </think> <answer> {value} </answer>"
                 for text, value in (
                     _worked(start, steps),
                     _worked(start, steps, rng.randrange(len(steps)),
                             rng.choice(_SLIPS))))
    out.append((t.generate(seed, i), good, bad))
  return out


# SPLIT


def prompt_key(prompt) -> str:
  """Canonical text of a prompt (str or messages) for hashing."""
  return prompt if isinstance(prompt, str) else json.dumps(
      prompt, sort_keys=True, ensure_ascii=False)


def is_held_out(prompt, fraction: float, seed: int = 0) -> bool:
  """Stable (sha256) draw of a prompt into the held-out split."""
  h = hashlib.sha256(f"{seed}\0{prompt_key(prompt)}".encode()).hexdigest()
  return int(h[:15], 16) / 16**15 < fraction


def split(records: Sequence, fraction: float, seed: int = 0):
  """(train, held_out) by prompt hash; order kept within each."""
  train, held = [], []
  for r in records:
    (held if is_held_out(r.prompt, fraction, seed) else train).append(r)
  return train, held


# ENCODE


@dataclasses.dataclass
class EncodeStats:
  sequences: int = 0
  truncated: int = 0  # sequences whose prompt lost its first tokens
  response_truncated: int = 0  # ... and whose response did too


def _render(prompt, response, prompter, chat, where):
  """(prompt text, response text, append EOS)."""
  if isinstance(prompt, str) and isinstance(response, str):
    return prompter.render(prompt) if prompter else prompt, response, True
  if isinstance(prompt, str):
    prompt = [{"role": "user", "content": prompt}]
  if isinstance(response, str):
    response = [{"role": "assistant", "content": response}]
  if chat is None:
    raise ValueError(f"{where}: chat messages need the model's chat "
                     "template, and the tokenizer has none (config.tokenizer"
                     " / config.init_from)")
  head = chat.render(prompt, add_generation_prompt=True)
  full = chat.render(list(prompt) + list(response),
                     add_generation_prompt=False)
  k = 0
  while k < min(len(head), len(full)) and head[k] == full[k]:
    k += 1
  return full[:k], full[k:], False


def encode_one(tok, prompt, response, *, prompter=None, max_len: int,
               stats: EncodeStats | None = None, where: str = ""
               ) -> np.ndarray:
  """int32 token ids of a rendered (prompt, response), left-truncated."""
  p_text, r_text, eos = _render(prompt, response, prompter,
                                getattr(tok, "chat_template", None), where)
  p = tok_lib.encode_prompt(tok, p_text)
  r = tok.encode(r_text, add_eos=eos and tok.eos_id is not None)
  ids = np.asarray(p + r, np.int32)
  if stats is not None:
    stats.sequences += 1
    stats.truncated += int(len(ids) > max_len)
    stats.response_truncated += int(len(r) > max_len)
  return ids[-max_len:]


def encode(records, tok, *, prompter=None, max_len: int):
  """(examples, EncodeStats): a Pair -> {"chosen", "rejected" ids,
  "margin"}; a Labelled -> {"response" ids, "label"}."""
  stats, out = EncodeStats(), []
  kw = dict(prompter=prompter, max_len=max_len, stats=stats)
  for r in records:
    if isinstance(r, Pair):
      out.append({"chosen": encode_one(tok, r.prompt, r.chosen, where=r.where,
                                       **kw),
                  "rejected": encode_one(tok, r.prompt, r.rejected,
                                         where=r.where, **kw),
                  "margin": np.float32(r.margin)})
    else:
      out.append({"response": encode_one(tok, r.prompt, r.response,
                                         where=r.where, **kw),
                  "label": np.int32(r.label)})
  return out, stats


def texts(records) -> Iterator[str]:
  """Raw strings of the records (a tokenizer's training corpus)."""
  for r in records:
    for x in ((r.prompt, r.chosen, r.rejected) if isinstance(r, Pair)
              else (r.prompt, r.response)):
      yield x if isinstance(x, str) else " ".join(
          str(m["content"]) for m in x)


# BATCH


class Batches:
  """Fixed-shape batches of encoded examples; `host_batch(step)` is a pure
  function of the step (a resumed run sees the same batches).

  Epoch e visits the examples in `np.random.default_rng((seed, e))` order
  (file order without `shuffle`), `batch_size` per step; the last batch of
  an epoch is filled up with weight-0 rows, so every example counts once
  per epoch. Rows are right-padded to `seq_len` with `pad_id`
  (segment id 0). Pairs: tokens / segment_ids [n, 2, S] (chosen, rejected),
  margin and weight [n]; labelled: tokens / segment_ids [n, S], label and
  weight [n].
  """

  def __init__(self, examples: Sequence[dict], *, batch_size: int,
               seq_len: int, seed: int = 0, pad_id: int = 0,
               shuffle: bool = True):
    if not examples:
      raise ValueError("Batches: no examples")
    self.examples, self.batch_size, self.seq_len = examples, batch_size, \
        seq_len
    self.seed, self.pad_id, self.shuffle = seed, pad_id, shuffle
    self.pairwise = "chosen" in examples[0]
    self.num_batches_per_epoch = -(-len(examples) // batch_size)
    self._order = {}

  def _perm(self, epoch: int) -> np.ndarray:
    if not self.shuffle:
      return np.arange(len(self.examples))
    if epoch not in self._order:
      self._order = {epoch: np.random.default_rng(
          (self.seed, epoch)).permutation(len(self.examples))}
    return self._order[epoch]

  def epoch_of(self, step: int) -> int:
    return step // self.num_batches_per_epoch

  def host_batch(self, step: int, process_index: int = 0,
                 process_count: int = 1) -> dict[str, np.ndarray]:
    """This process's rows (a contiguous block) of step `step`'s batch."""
    if self.batch_size % process_count:
      raise ValueError(f"batch_size={self.batch_size} rows do not split "
                       f"over {process_count} processes")
    n = self.batch_size // process_count
    epoch, i = divmod(step, self.num_batches_per_epoch)
    perm = self._perm(epoch)
    first = i * self.batch_size + process_index * n
    pos = np.arange(first, first + n)
    weight = (pos < len(perm)).astype(np.float32)
    rows = [self.examples[j] for j in perm[pos % len(perm)]]
    keys = ("chosen", "rejected") if self.pairwise else ("response",)
    tokens = np.full((n, len(keys), self.seq_len), self.pad_id, np.int32)
    seg = np.zeros(tokens.shape, np.int32)
    for r, ex in enumerate(rows):
      for k, key in enumerate(keys):
        ids = ex[key][-self.seq_len:]
        tokens[r, k, :len(ids)] = ids
        seg[r, k, :len(ids)] = 1
    if self.pairwise:
      return {"tokens": tokens, "segment_ids": seg, "weight": weight,
              "margin": np.array([ex["margin"] for ex in rows], np.float32)}
    return {"tokens": tokens[:, 0], "segment_ids": seg[:, 0],
            "weight": weight,
            "label": np.array([ex["label"] for ex in rows], np.float32)}
