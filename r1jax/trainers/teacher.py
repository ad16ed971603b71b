"""The frozen teacher of on-policy distillation (`config.distill`).

The teacher is read at every start from `config.distill.teacher` (a Hugging
Face model directory or an r1jax workdir, loaded like `config.init_from`)
and is never checkpointed: like a reference that never refreshes, it is the
same model at every start, so a resumed run sees the teacher it had.

Distillation compares the student's and the teacher's log-probs of the
same token ids, so the two must share one tokenizer (same size, same
id -> piece mapping); the teacher may differ in size or architecture.
"""

from __future__ import annotations

from r1jax import checkpoint as ckpt_lib
from r1jax import tokenizers as tok_lib
from r1jax.models.transformer import ModelConfig
from r1jax.trainers import common

_OTHER_FAMILY = ("logit distillation needs one tokenizer; use generate + "
                 "sft (text) for a teacher of another family")


def coef(c) -> float:
  """config.distill.coef; 0 (off) for a config without the block."""
  d = c.get("distill")
  return float(d.coef) if d is not None else 0.0


def validate(c) -> None:
  """coef > 0 needs a teacher and a teacher needs coef > 0; the teacher
  is a directory `checkpoint.init_from` reads; pure distillation cannot
  use dynamic sampling."""
  d = c.get("distill")
  if d is None:
    return
  if d.coef < 0:
    raise ValueError(f"config.distill.coef={d.coef} must be >= 0 (0 = off)")
  if d.coef > 0 and not d.teacher:
    raise ValueError(f"config.distill.coef={d.coef} > 0 needs "
                     "config.distill.teacher (a Hugging Face model directory "
                     "or an r1jax workdir)")
  if d.teacher and not d.coef > 0:
    raise ValueError(f"config.distill.teacher={d.teacher!r} is set but "
                     f"config.distill.coef={d.coef}: the teacher would be "
                     "loaded and never used; set config.distill.coef > 0 "
                     "(1.0: Thinking Machines' recipe) or clear the teacher")
  if d.teacher:
    try:
      ckpt_lib.model_source(d.teacher)
    except ValueError as e:
      raise ValueError(f"config.distill.teacher: {e}") from e
  pure = not any(float(w) for w in dict(c.rewards).values())
  if d.coef > 0 and pure and c.rl.dynamic_sampling:
    raise ValueError("config.rl.dynamic_sampling=True with pure "
                     "distillation (every config.rewards weight 0): it keeps "
                     "only groups whose rewards differ, so it would drop "
                     "every group and the teacher's signal with it")


def pieces(tok: tok_lib.Tokenizer) -> list[str]:
  """The tokenizer's id -> piece mapping, as a list indexed by id."""
  if isinstance(tok, tok_lib.SentencePieceTokenizer):
    return [tok.sp.id_to_piece(i) for i in range(tok.vocab_size)]
  if isinstance(tok, tok_lib.HFTokenizer):
    by_id = {i: p for p, i in tok.tok.get_vocab(
        with_added_tokens=True).items()}
    return [by_id.get(i, "") for i in range(tok.vocab_size)]
  return tok.token_texts()


def check_tokenizer(student: tok_lib.Tokenizer, teacher: tok_lib.Tokenizer,
                    path: str, field: str = "config.distill.teacher",
                    why: str = _OTHER_FAMILY) -> None:
  """ValueError naming `field` unless both tokenizers have the same size
  and id -> piece mapping."""
  where = f"{field}={path!r}"
  if student.vocab_size != teacher.vocab_size:
    raise ValueError(f"{where}: its tokenizer has {teacher.vocab_size} ids, "
                     f"the student's {student.vocab_size}; {why}")
  a, b = pieces(student), pieces(teacher)
  if a != b:
    i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    raise ValueError(f"{where}: its tokenizer maps ids to other pieces than "
                     f"the student's (id {i}: {b[i]!r} vs the student's "
                     f"{a[i]!r}); {why}")


def load(c, mesh, rules, tok: tok_lib.Tokenizer, budget: int
         ) -> tuple[ModelConfig, dict]:
  """(teacher cfg, params) on `mesh` with the student's sharding `rules`,
  stored and computed in the model dtype (config.model.dtype: frozen, so
  no float32 master copy is needed). `tok` is the student's tokenizer;
  `budget` the prompt + completion length the teacher must fit."""
  path = c.distill.teacher
  try:
    teacher_tok = tok_lib.load(path)
  except (FileNotFoundError, ValueError) as e:
    raise ValueError(f"config.distill.teacher={path!r} holds no readable "
                     f"tokenizer ({e}); distillation checks that the "
                     "teacher's tokenizer is the student's") from e
  check_tokenizer(tok, teacher_tok, path)
  dtype = common.DTYPES[c.model.dtype]
  cfg, params = ckpt_lib.init_from(path, mesh=mesh, rules=rules, dtype=dtype,
                                   param_dtype=dtype, remat="none")
  if budget > cfg.max_seq_len:
    raise ValueError(f"config.distill.teacher={path!r}: max_seq_len "
                     f"{cfg.max_seq_len} < the prompt + completion budget "
                     f"{budget} (config.max_prompt_len + "
                     "config.rl.max_new_tokens)")
  if tok.vocab_size > cfg.vocab_size:
    raise ValueError(f"config.distill.teacher={path!r}: {cfg.vocab_size} "
                     f"embeddings for a tokenizer of {tok.vocab_size} ids")
  return cfg, params
