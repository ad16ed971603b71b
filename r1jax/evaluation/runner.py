"""One evaluator: n samples per problem, scored, resumable, sharded.

`evaluate(model, protocol)` takes plain values (a `Model`, a `Protocol`)
and returns per-sample records and the benchmark's metrics; the `eval`
stage and the trainers' held-out evaluation both call it.

Work is one row per (problem, sample) unit. Units are ordered longest
prompt first (a problem's n samples together) and cut into fixed batches of
`Protocol.batch_rows` rows, the same batches on any device count. Row
(problem, sample) draws with its own key, fold_in(fold_in(key(seed),
crc32(problem id)), sample), so its completion depends on neither the batch
nor the mesh: 1 device and 8 give the same records, and a resumed run the
same as an uninterrupted one.

With `Protocol.continuous` > 0 (continuous batching), each compiled call
decodes a queue of that many units with `batch_rows` cache slots, refilling
a slot from the queue as soon as its row stops (sampling/continuous.py);
the same keys give the same records, and the queue is the unit of resume
below instead of the batch.

With `out_dir`, each process appends the records of the rows it owns (the
lowest process holding the row, `host_rewards.row_owners`) to its own shard
`samples.p<i>.jsonl`, one batch at a time, flushed and fsynced; a rerun
skips every batch whose units all have records (read from all shards,
decided by process 0, broadcast), so an interrupted run loses at most the
batch in flight and never redoes finished work. Process 0 merges the shards.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import time
import zlib
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import numpy as np
from absl import logging

from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import templates
from r1jax.evaluation import report, scoring
from r1jax.rewards import decode as decode_lib
from r1jax.sampling import Sampling, continuous, left_pad, sample
from r1jax.trainers import host_rewards


@dataclasses.dataclass(frozen=True)
class Model:
  """A model to sample from: params on `mesh`, its config and tokenizer."""
  params: Any
  cfg: Any
  tok: tok_lib.Tokenizer
  mesh: jax.sharding.Mesh
  rules: tuple = shd.DEFAULT_RULES
  cache_dtype: Any = None
  label: str = ""  # what to call the model in eval.json / eval.md


@dataclasses.dataclass(frozen=True)
class Protocol:
  """How one benchmark is evaluated."""
  name: str  # the evaluator's name (config.evals.<name>)
  benchmark: str
  examples: Sequence[dict]
  n: int  # samples per problem
  prompter: templates.Prompter
  sampling: Sampling
  max_new_tokens: int
  batch_rows: int  # rows (units) per compiled sampler call, all devices
  # Continuous batching: units queued per compiled call, decoded with
  # batch_rows cache slots (0: static batches of batch_rows units).
  continuous: int = 0
  stop_ids: tuple[int, ...] = ()  # EOS and any stop tokens
  question_suffix: str = ""  # appended to each question (with a newline)
  seed: int = 0
  timeout_s: float = 5.0  # per math-verify call

  def question(self, example: dict) -> str:
    q = example["prompt"]
    return q.rstrip() + "\n" + self.question_suffix if self.question_suffix \
        else q

  def settings(self) -> dict:
    """Everything that sets this protocol's numbers, for eval.json."""
    s = self.sampling
    return dict(benchmark=self.benchmark, n=self.n, seed=self.seed,
                num_problems=len(self.examples), template=self.prompter.name,
                system_prompt=self.prompter.system,
                prefill=self.prompter.prefill,
                think_opened=self.prompter.think_opened,
                question_suffix=self.question_suffix,
                temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                min_p=s.min_p, max_new_tokens=self.max_new_tokens,
                batch_rows=self.batch_rows,
                continuous_batching=self.continuous)


def row_key_ids(example_id: str) -> int:
  """The 31-bit number a problem's id folds into its sample keys."""
  return zlib.crc32(str(example_id).encode("utf-8")) & 0x7FFFFFFF


def prompt_ids(protocol: Protocol, tok: tok_lib.Tokenizer) -> list[list[int]]:
  """Token ids of every problem's templated prompt (one BOS at most)."""
  return [tok_lib.encode_prompt(tok, protocol.prompter.render(
      protocol.question(e))) for e in protocol.examples]


def plan(lengths: Sequence[int], n: int,
         batch_rows: int) -> list[list[tuple[int, int]]]:
  """Batches of (problem, sample) units: longest prompts first (ties by
  problem index), a problem's samples together, `batch_rows` per batch
  (the last one shorter)."""
  order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
  units = [(p, j) for p in order for j in range(n)]
  return [units[i:i + batch_rows] for i in range(0, len(units), batch_rows)]


@functools.partial(jax.jit, static_argnames=(
    "cfg", "max_new_tokens", "sampling", "stop_ids", "pad_id", "cache_dtype"))
def _sample_rows(params, cfg, tokens_BxT, mask_BxT, seed_key, problem_B,
                 sample_B, *, max_new_tokens, sampling, stop_ids, pad_id,
                 cache_dtype):
  fold = jax.random.fold_in
  keys_B = jax.vmap(lambda p, j: fold(fold(seed_key, p), j))(problem_B,
                                                             sample_B)
  return sample(params, cfg, tokens_BxT, mask_BxT, keys_B,
                max_new_tokens=max_new_tokens, sampling=sampling,
                stop_ids=stop_ids, num_samples=1, pad_id=pad_id,
                cache_dtype=cache_dtype)


@functools.partial(jax.jit, static_argnames=(
    "cfg", "slots", "max_new_tokens", "sampling", "stop_ids", "pad_id",
    "cache_dtype"))
def _sample_queue(params, cfg, tokens_NxT, mask_NxT, seed_key, problem_N,
                  sample_N, budget_N, *, slots, max_new_tokens, sampling,
                  stop_ids, pad_id, cache_dtype):
  """`_sample_rows` with continuous batching: the same per-unit keys."""
  fold = jax.random.fold_in
  keys_N = jax.vmap(lambda p, j: fold(fold(seed_key, p), j))(problem_N,
                                                             sample_N)
  out = continuous.sample(
      params, cfg, tokens_NxT, mask_NxT, keys_N, slots=slots,
      max_new_tokens=max_new_tokens, budget_N=budget_N, sampling=sampling,
      stop_ids=stop_ids, pad_id=pad_id, cache_dtype=cache_dtype)
  # Rows spread over processes as in the static path (row_owners).
  return jax.tree.map(
      lambda x: shd.constrain(x, ("act_batch",) + (None,) * (x.ndim - 1)),
      out)


def _place(x, mesh, rules):
  x = np.asarray(x)
  names = ("act_batch",) + (None,) * (x.ndim - 1)
  spec = shd.spec_for(x.shape, names, rules, mesh)
  return jax.make_array_from_callback(
      x.shape, jax.sharding.NamedSharding(mesh, spec), lambda i: x[i])


def shard_path(out_dir: str, process: int) -> str:
  return os.path.join(out_dir, f"samples.p{process}.jsonl")


def _ends_mid_line(path: str) -> bool:
  if not os.path.exists(path) or not os.path.getsize(path):
    return False
  with open(path, "rb") as f:
    f.seek(-1, os.SEEK_END)
    return f.read(1) != b"\n"


def read_records(out_dir: str) -> list[dict]:
  """Every record in `out_dir`'s shards (all processes'); a line cut short
  by a crash is skipped."""
  out = []
  for path in sorted(glob.glob(os.path.join(out_dir, "samples.p*.jsonl"))):
    with open(path, encoding="utf-8") as f:
      for line in f:
        try:
          out.append(json.loads(line))
        except json.JSONDecodeError:
          # The batch in flight when the process died: sampled again.
          logging.warning("%s: skipping a line cut short by an "
                          "interruption (%d bytes)", path, len(line))
  return out


def _broadcast_mask(mask: np.ndarray) -> np.ndarray:
  """Process 0's `mask` on every process."""
  if jax.process_count() == 1:
    return mask
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.broadcast_one_to_all(mask)).astype(bool)


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def done_batches(batches, examples, out_dir: str | None) -> np.ndarray:
  """[num batches] bool: every unit of the batch has a record in out_dir
  (as process 0 reads it; the same on every process)."""
  done = np.zeros(len(batches), bool)
  if out_dir and jax.process_index() == 0:
    have = {(r["id"], r["sample"]) for r in read_records(out_dir)}
    for b, units in enumerate(batches):
      done[b] = all((examples[p]["id"], j) in have for p, j in units)
  return _broadcast_mask(done)


class _ProgressLog:
  """One log line per batch: problems done, samples/s, tokens/s, ETA."""

  def __init__(self, name: str, batches, n: int, done, clock=time.monotonic):
    self.name, self.n, self.clock = name, n, clock
    self.total = sum(len(u) for u in batches)
    self.samples = sum(len(u) for u, d in zip(batches, done) if d)
    self.start, self.new, self.tokens = clock(), 0, 0

  def update(self, units: int, tokens: int) -> dict:
    self.samples += units
    self.new += units
    self.tokens += tokens
    dt = max(self.clock() - self.start, 1e-9)
    rate = self.new / dt
    eta = (self.total - self.samples) / rate if rate else float("inf")
    logging.info(
        "eval %s: %d/%d samples (%d/%d problems), %.2f samples/s, %.0f "
        "tokens/s, ETA %.0fs", self.name, self.samples, self.total,
        self.samples // self.n, self.total // self.n, rate,
        self.tokens / dt, eta)
    return {"samples_per_s": rate, "tokens_per_s": self.tokens / dt}


def record(name: str, example: dict, p: int, j: int, text: str,
           length: int, truncated: bool, s: scoring.Score) -> dict:
  """One line of samples.jsonl: sample j of problem p of evaluator name."""
  return {"eval": name, "id": example["id"], "problem": p, "sample": j,
          "completion": text, "answer": s.answer, "correct": bool(s.correct),
          "formatted": bool(s.formatted), "status": s.status,
          "length": int(length), "truncated": bool(truncated)}


def score_rows(protocol: Protocol, units, texts, lengths, truncated):
  """Records of sampled rows (scored on this host)."""
  exs = [protocol.examples[p] for p, _ in units]
  scores = scoring.score(exs, [[t] for t in texts],
                         protocol.prompter.think_opened,
                         timeout_s=protocol.timeout_s)
  return [record(protocol.name, protocol.examples[p], p, j, t, n, tr, s[0])
          for (p, j), t, n, tr, s in zip(units, texts, lengths, truncated,
                                          scores)]


def generate(model: Model, protocol: Protocol, out_dir: str | None = None,
             on_batch: Callable[[dict], None] | None = None,
             ids: Sequence[Sequence[int]] | None = None) -> list[dict]:
  """Samples and scores every unit not yet in `out_dir`; returns the
  records this process scored in this call (all of them on one process
  without `out_dir`). `ids`: the prompts' token ids when the caller has
  them (`prompt_ids`)."""
  ex, tok = protocol.examples, model.tok
  if not ex:
    raise ValueError(f"eval {protocol.name!r}: no problems to evaluate")
  ids = prompt_ids(protocol, tok) if ids is None else ids
  per_call = protocol.continuous or protocol.batch_rows
  batches = plan([len(x) for x in ids], protocol.n, per_call)
  done = done_batches(batches, ex, out_dir)
  progress = _ProgressLog(protocol.name, batches, protocol.n, done)
  strip = decode_lib.stripped_ids(tok)
  seed_key = jax.random.key(protocol.seed)
  writer = None
  if out_dir:
    os.makedirs(out_dir, exist_ok=True)
    path = shard_path(out_dir, jax.process_index())
    torn = _ends_mid_line(path)
    writer = open(path, "a", encoding="utf-8")
    if torn:  # a line the interruption cut short: end it, skip it on read
      writer.write("\n")
  mine_all = []
  try:
    with jax.set_mesh(model.mesh), nn.logical_axis_rules(model.rules):
      for b, units in enumerate(batches):
        if done[b]:
          continue
        # Pad to per_call rows with copies of the last unit (dropped) so
        # every batch reuses one compiled sampler per prompt bucket.
        rows = list(units) + [units[-1]] * (per_call - len(units))
        tokens, mask = left_pad([ids[p] for p, _ in rows], tok.pad_id)
        problem = np.array([row_key_ids(ex[p]["id"]) for p, _ in rows],
                           np.int32)
        samp = np.array([j for _, j in rows], np.int32)
        place = lambda x: _place(x, model.mesh, model.rules)  # noqa: E731
        kw = dict(max_new_tokens=protocol.max_new_tokens,
                  sampling=protocol.sampling,
                  stop_ids=tuple(protocol.stop_ids), pad_id=tok.pad_id,
                  cache_dtype=model.cache_dtype)
        if protocol.continuous:
          # Padding copies get a one-token budget: they barely take a slot.
          budget = np.where(np.arange(per_call) < len(units),
                            protocol.max_new_tokens, 1).astype(np.int32)
          out = _sample_queue(
              model.params, model.cfg, place(tokens), place(mask), seed_key,
              place(problem), place(samp), place(budget),
              slots=protocol.batch_rows, **kw)
        else:
          out = _sample_rows(
              model.params, model.cfg, place(tokens), place(mask), seed_key,
              place(problem), place(samp), **kw)
        arrays = (out.tokens_BxM, out.length_B, out.truncated_B)
        owner = host_rewards.row_owners(*arrays)[:len(units)]
        mine = np.flatnonzero(owner == jax.process_index())
        toks, lens, trunc = (host_rewards.local_rows(x, mine) for x in arrays)
        texts = decode_lib.decode(tok, toks, lens, strip)
        recs = score_rows(protocol, [units[i] for i in mine], texts,
                          lens.tolist(), trunc.tolist())
        if writer is not None:
          writer.write("".join(json.dumps(r, ensure_ascii=False) + "\n"
                               for r in recs))
          writer.flush()
          os.fsync(writer.fileno())
        else:
          mine_all.extend(recs)
        stats = progress.update(len(units), int(np.asarray(lens).sum()))
        if on_batch is not None:
          on_batch(stats)
  finally:
    if writer is not None:
      writer.close()
  if out_dir:
    _barrier(f"eval:{protocol.name}")
  return mine_all


def merge(name: str, examples: Sequence[dict], n: int,
          records: Sequence[dict]) -> list[dict]:
  """One record per (problem, sample) unit, ordered by problem then sample;
  raises unless every problem has exactly n samples (n generated == n
  scored)."""
  by_unit = {}
  for r in records:
    by_unit.setdefault((r["id"], r["sample"]), r)
  out, missing = [], []
  for p, e in enumerate(examples):
    for j in range(n):
      r = by_unit.get((e["id"], j))
      if r is None:
        missing.append((e["id"], j))
      else:
        out.append(dict(r, problem=p))
  if missing:
    raise ValueError(f"eval {name!r}: {len(missing)} of "
                     f"{len(examples) * n} samples have no "
                     f"record (first: problem {missing[0][0]!r}, sample "
                     f"{missing[0][1]})")
  return out


def metrics(examples: Sequence[dict], n: int, records: Sequence[dict],
            timeout_s: float = 5.0) -> dict:
  """A benchmark's metrics from merged records (P x n, in order); cons@n
  votes over answers grouped by math-verify equivalence."""
  p = len(examples)
  grid = lambda k: [[records[i * n + j][k] for j in range(n)]  # noqa: E731
                    for i in range(p)]
  groups = scoring.answer_groups_batch(grid("answer"),
                                       scoring.kind(examples[0]),
                                       timeout_s=timeout_s)
  return report.benchmark_metrics(
      grid("correct"), groups, grid("length"), grid("truncated"),
      grid("formatted"), n=n, num_problems=p, statuses_PxN=grid("status"))


def evaluate(model: Model, protocol: Protocol, out_dir: str | None = None,
             on_batch: Callable[[dict], None] | None = None,
             ids: Sequence[Sequence[int]] | None = None
             ) -> tuple[list[dict], dict]:
  """(records, metrics) of one benchmark. Every process must call it (the
  sampler is one program over the mesh). With `out_dir` the run resumes
  from and writes shards there (module doc), and only process 0 returns
  them (the others get ([], {})); without, records are all-gathered and
  every process returns them."""
  mine = generate(model, protocol, out_dir, on_batch, ids)
  if out_dir is None:
    if jax.process_count() > 1:
      mine = gather_records(mine)
  elif jax.process_index() != 0:
    return [], {}
  records = merge(protocol.name, protocol.examples, protocol.n,
                  read_records(out_dir) if out_dir else mine)
  return records, metrics(protocol.examples, protocol.n, records,
                          protocol.timeout_s)


def gather_records(mine: list[dict]) -> list[dict]:
  """Every process's records on every process (JSON bytes all-gathered)."""
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  data = np.frombuffer(json.dumps(mine).encode("utf-8"), np.uint8)
  sizes = np.asarray(multihost_utils.process_allgather(
      np.array([data.size], np.int64))).ravel()
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:data.size] = data
  every = np.asarray(multihost_utils.process_allgather(padded))
  out = []
  for row, size in zip(every, sizes):
    out.extend(json.loads(bytes(row[:size]).decode("utf-8")))
  return out
