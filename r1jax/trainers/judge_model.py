"""A frozen generative judge loaded from config, scoring texts in batches.

The judge block (`config.judge` of the generate stage):
  init_from       Hugging Face model directory or r1jax workdir (loaded
                  like the distillation teacher, r1jax/trainers/teacher.py)
  template        a name in r1jax.rewards.judge.TEMPLATES or a text holding
                  {question}, {reference} and {response}
  parse           'verdict' | 'score'; empty = the named template's
  span            'summary' (text after </think>) | 'full'
  chat            'auto': wrap the prompt in the judge tokenizer's chat
                  template when it ships one; 'none': the bare text
  max_new_tokens  greedy tokens the judge writes
  batch_rows      rows per compiled sampler call, over all devices
  dtype           weights and compute dtype ('' = load's default_dtype)

The judge shares the policy's tokenizer (same ids and pieces), so the
device twin (r1jax/rewards/device/judge.py) can build its prompts from
the policy's tokens: `Judge.pieces()` and `Judge.chars()` are its static
inputs. On the host, `Judge.score` renders each prompt as text, encodes it
(one BOS), samples greedily and parses the decoded completion.

Multi-host: every process loads the judge and joins every sampler call.
Process 0 calls `score` (it holds the samples); the others call `serve()`,
which runs the same calls on process 0's inputs until process 0 calls
`stop()`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np
from absl import logging

from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import templates
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import judge as host
from r1jax.rewards.device import judge as device
from r1jax.sampling import sampler as sampler_lib
from r1jax.trainers import common
from r1jax.trainers import teacher

CHAT = ("auto", "none")


def validate(cj, field: str = "config.judge") -> None:
  """Checks a judge block without loading anything; errors name the
  field."""
  if not cj.init_from:
    raise ValueError(f"{field}.init_from is empty: a judge needs a model (a "
                     "Hugging Face model directory or an r1jax workdir)")
  try:
    ckpt_lib.model_source(cj.init_from)
  except ValueError as e:
    raise ValueError(f"{field}.init_from: {e}") from e
  try:
    host.template_text(cj.template)
  except ValueError as e:
    raise ValueError(f"{field}.template: {e}") from e
  try:
    host.kind(cj.template, cj.parse)
  except ValueError as e:
    raise ValueError(f"{field}.parse: {e}") from e
  if cj.span not in host.SPANS:
    raise ValueError(f"{field}.span={cj.span!r}; allowed: {host.SPANS}")
  if cj.chat not in CHAT:
    raise ValueError(f"{field}.chat={cj.chat!r}; allowed: {CHAT}")
  for name in ("max_new_tokens", "batch_rows"):
    if not cj[name] >= 1:
      raise ValueError(f"{field}.{name}={cj[name]}: an int >= 1")
  if cj.dtype and cj.dtype not in common.DTYPES:
    raise ValueError(f"{field}.dtype={cj.dtype!r}; allowed: '' or "
                     f"{sorted(common.DTYPES)}")


def check_tokenizer(tok: tok_lib.Tokenizer, judge_tok: tok_lib.Tokenizer,
                    where: str) -> None:
  """ValueError naming `where` unless both tokenizers have the same size
  and id -> piece mapping (the device judge reads the policy's ids)."""
  if tok.vocab_size != judge_tok.vocab_size:
    raise ValueError(f"{where}: its tokenizer has {judge_tok.vocab_size} "
                     f"ids, the policy's {tok.vocab_size}; the judge must "
                     "share the policy's tokenizer")
  a, b = teacher.pieces(tok), teacher.pieces(judge_tok)
  if a != b:
    i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    raise ValueError(f"{where}: its tokenizer maps ids to other pieces "
                     f"than the policy's (id {i}: {b[i]!r} vs {a[i]!r}); the "
                     "judge must share the policy's tokenizer")


def tokenizer(cj, tok: tok_lib.Tokenizer,
              field: str = "config.judge") -> tok_lib.Tokenizer:
  """The judge's own tokenizer (its chat template and EOS), checked to be
  the policy's `tok`: cheap, so a stage calls it before its long work."""
  where = f"{field}.init_from={cj.init_from!r}"
  try:
    judge_tok = tok_lib.load(cj.init_from)
  except (FileNotFoundError, ValueError) as e:
    raise ValueError(f"{where} holds no readable tokenizer ({e}); the "
                     "judge must ship the policy's tokenizer") from e
  check_tokenizer(tok, judge_tok, where)
  return judge_tok


def load(cj, mesh, rules, tok: tok_lib.Tokenizer,
         field: str = "config.judge", default_dtype: str = "float32"
         ) -> Judge:
  """The judge of block `cj` on `mesh`, frozen: params stored and computed
  in `cj.dtype` (empty: `default_dtype`, e.g. config.model.dtype). `tok`
  is the policy's tokenizer; the judge's must be the same."""
  validate(cj, field)
  path, where = cj.init_from, f"{field}.init_from={cj.init_from!r}"
  judge_tok = tokenizer(cj, tok, field)
  dtype = common.DTYPES[cj.dtype or default_dtype]
  cfg, params = ckpt_lib.init_from(path, mesh=mesh, rules=rules, dtype=dtype,
                                   param_dtype=dtype, remat="none")
  if tok.vocab_size > cfg.vocab_size:
    raise ValueError(f"{where}: {cfg.vocab_size} embeddings for a "
                     f"tokenizer of {tok.vocab_size} ids")
  wrap = ("", "")
  if cj.chat == "auto" and judge_tok.chat_template is not None:
    prompter = templates.Prompter("chat", judge_tok.chat_template)
    wrap = host.chat_wrap(prompter.render)
  stop = tuple(i for i in (judge_tok.eos_id,) if i is not None)
  logging.info("judge %s: %s template, %s span, chat markup %s", path,
               host.kind(cj.template, cj.parse), cj.span, bool(wrap[0]))
  return Judge(params=params, cfg=cfg, tok=tok, mesh=mesh, rules=rules,
               template=host.template_text(cj.template),
               kind=host.kind(cj.template, cj.parse), span=cj.span,
               max_new_tokens=int(cj.max_new_tokens),
               batch_rows=int(cj.batch_rows), wrap=wrap, stop_ids=stop,
               label=path)


@dataclasses.dataclass(frozen=True)
class Judge:
  """A loaded judge: params on `mesh` and how it is prompted and read."""
  params: Any
  cfg: Any
  tok: tok_lib.Tokenizer
  mesh: jax.sharding.Mesh
  rules: tuple
  template: str  # the template text
  kind: str  # 'verdict' | 'score'
  span: str  # 'summary' | 'full'
  max_new_tokens: int = 16
  batch_rows: int = 16
  wrap: tuple[str, str] = ("", "")  # chat markup around the prompt
  stop_ids: tuple[int, ...] = ()
  cache_dtype: Any = None
  label: str = ""

  def prompt(self, question: str, reference: str, response: str) -> str:
    """The judge's prompt text for one response (its span only)."""
    return host.render(self.template, question, reference,
                       host.response_span(response, self.span), self.wrap)

  def pieces(self) -> device.Pieces:
    """The device twin's static pieces (same template, span and markup);
    a ValueError if the tokenizer does not encode them losslessly."""
    t = self.tok
    return device.Pieces.build(
        t.encode, self.template, parse_as=self.kind, span=self.span,
        max_new_tokens=self.max_new_tokens,
        think_close=t.encode("</think>"), bos_id=t.bos_id,
        strip_ids=sorted(decode_lib.stripped_ids(t)), stop_ids=self.stop_ids,
        pad_id=t.pad_id, wrap=self.wrap, decode=t.decode)

  def chars(self) -> np.ndarray:
    """The device twin's byte table of the token texts."""
    return device.char_table(self.tok.token_texts(),
                             sorted(decode_lib.stripped_ids(self.tok)))

  def score(self, questions: Sequence[str], references: Sequence[str],
            responses: Sequence[str], return_text: bool = False):
    """(values_B float32, ok_B bool[, completions]) of B responses,
    batch_rows at a time (a progress line per batch). A prompt longer than
    the judge's max_seq_len allows is not judged (ok False, logged)."""
    if not len(questions) == len(references) == len(responses):
      raise ValueError(f"{len(questions)} questions, {len(references)} "
                       f"references, {len(responses)} responses")
    ids = [tok_lib.encode_prompt(self.tok, self.prompt(q, r, x))
           for q, r, x in zip(questions, references, responses)]
    values_B = np.zeros(len(ids), np.float32)
    ok_B = np.zeros(len(ids), bool)
    texts = [""] * len(ids)
    room = self.cfg.max_seq_len - self.max_new_tokens
    todo = sorted((i for i in range(len(ids)) if len(ids[i]) <= room),
                  key=lambda i: (-len(ids[i]), i))
    if len(todo) < len(ids):
      logging.warning("judge: %d of %d prompts exceed max_seq_len %d - %d "
                      "new tokens; not judged (ok=False)",
                      len(ids) - len(todo), len(ids), self.cfg.max_seq_len,
                      self.max_new_tokens)
    strip = decode_lib.stripped_ids(self.tok)
    start, n = time.monotonic(), self.batch_rows
    for b in range(0, len(todo), n):
      idx = todo[b:b + n]
      rows = idx + [idx[-1]] * (n - len(idx))
      toks, lens = self._run(*sampler_lib.left_pad(
          [ids[i] for i in rows], self.tok.pad_id))
      for i, text in zip(idx, decode_lib.decode(self.tok, toks[:len(idx)],
                                                lens[:len(idx)], strip)):
        values_B[i], ok_B[i] = host.parse(self.kind, text)
        texts[i] = text
      done = b + len(idx)
      logging.info("judge: %d/%d judged, %d parsed, %.1f rows/s", done,
                   len(todo), int(ok_B.sum()),
                   done / max(time.monotonic() - start, 1e-9))
    return (values_B, ok_B, texts) if return_text else (values_B, ok_B)

  # SAMPLER CALLS (every process joins each one)

  def _place(self, x):
    spec = shd.spec_for(x.shape, ("act_batch",) + (None,) * (x.ndim - 1),
                        self.rules, self.mesh)
    return jax.make_array_from_callback(
        x.shape, jax.sharding.NamedSharding(self.mesh, spec),
        lambda i: x[i])

  def _run(self, tokens_BxT, mask_BxT):
    """Greedy judge completions of one left-padded batch: (tokens, lengths)
    as numpy, on every process."""
    if jax.process_count() > 1 and jax.process_index() == 0:
      _send(np.array([1, *tokens_BxT.shape], np.int32))
      tokens_BxT, mask_BxT = _send(tokens_BxT), _send(mask_BxT)
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
      out = sampler_lib.jit_sample(
          self.params, self.cfg, self._place(tokens_BxT),
          self._place(mask_BxT), jax.random.key(0),
          max_new_tokens=self.max_new_tokens, sampling=device.GREEDY,
          stop_ids=self.stop_ids, num_samples=1, pad_id=self.tok.pad_id,
          cache_dtype=self.cache_dtype)
      return common.to_host((out.tokens_BxM, out.length_B))

  def serve(self) -> None:
    """Processes other than 0: join process 0's sampler calls until it
    calls `stop()`."""
    while True:
      head = _send(np.zeros((3,), np.int32))
      if not head[0]:
        return
      shape = (int(head[1]), int(head[2]))
      self._run(_send(np.zeros(shape, np.int32)),
                _send(np.zeros(shape, np.int32)))

  def stop(self) -> None:
    """Process 0: release the processes in `serve()`."""
    if jax.process_count() > 1 and jax.process_index() == 0:
      _send(np.zeros((3,), np.int32))


def _send(x: np.ndarray) -> np.ndarray:
  """Process 0's `x` on every process (same shape everywhere)."""
  # pylint: disable-next=g-import-not-at-top
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.broadcast_one_to_all(x))
