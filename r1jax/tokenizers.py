"""Tokenizers behind one interface: SentencePiece and HF `tokenizer.json`.

Qwen2.5 and Llama 3 ship `tokenizer.json` (read with the `tokenizers`
package); our synthetic-task models use a SentencePiece model trained locally
with `train_sentencepiece`. `load(path)` picks the implementation from the
path: a `.model` file, a `tokenizer.json`, or a model directory holding one.
`encode_prompt` encodes a rendered prompt with exactly one BOS.
"""

from __future__ import annotations

import abc
import json
import os
import shutil
from typing import Iterable, Sequence

from r1jax.data import chat as chat_lib

# Tokens R1-style templates rely on. A tokenizer we train keeps each of them a
# single piece, so rewards and stop conditions can work on token ids.
R1_SPECIAL_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
# File names `Tokenizer.save` writes (and `load` finds in a directory).
SP_MODEL_FILE = "tokenizer.model"
HF_FILE = "tokenizer.json"
HF_SIDE_FILES = (chat_lib.CONFIG_FILE, "special_tokens_map.json",
                 chat_lib.TEMPLATE_FILE)


class Tokenizer(abc.ABC):
  """encode/decode plus the ids a sampler and a loss need."""

  @abc.abstractmethod
  def encode(self, text: str, add_bos: bool = False,
             add_eos: bool = False) -> list[int]:
    """Token ids of `text`."""

  @abc.abstractmethod
  def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
    """Text of `ids`."""

  @property
  @abc.abstractmethod
  def vocab_size(self) -> int:
    """Number of ids (model embeddings may be padded beyond it)."""

  @abc.abstractmethod
  def token_to_id(self, token: str) -> int | None:
    """Id of a single token (e.g. `</answer>`), or None."""

  def token_texts(self) -> list[str]:
    """Text of every id on its own, leading space kept (device rewards'
    `token_classes`)."""
    return [self.decode([i]) for i in range(self.vocab_size)]

  bos_id: int | None = None
  eos_id: int | None = None
  pad_id: int = 0
  special_tokens: dict[str, int] = {}
  # Texts of the BOS / EOS tokens, and the model's own chat template
  # (`chat_lib.ChatTemplate`; HF tokenizers that ship one, else None).
  bos_token: str | None = None
  eos_token: str | None = None
  chat_template: chat_lib.ChatTemplate | None = None

  def _in_range(self, ids) -> list[int]:
    # Model embeddings are often padded past the vocabulary (Qwen2.5: 151936
    # rows for 151665 tokens); ids there have no text and are dropped.
    n = self.vocab_size
    return [int(i) for i in ids if 0 <= int(i) < n]

  def save(self, directory: str) -> list[str]:
    """Writes the files that `load(directory)` and transformers'
    tokenizer classes read; returns their paths."""
    raise NotImplementedError(f"{type(self).__name__} cannot be saved")

  def encode_batch(self, texts: Iterable[str], **kw) -> list[list[int]]:
    return [self.encode(t, **kw) for t in texts]

  def _with_ends(self, ids: list[int], add_bos: bool, add_eos: bool):
    if add_bos:
      if self.bos_id is None:
        raise ValueError("add_bos=True but this tokenizer has no BOS token")
      ids = [self.bos_id] + ids
    if add_eos:
      if self.eos_id is None:
        raise ValueError("add_eos=True but this tokenizer has no EOS token")
      ids = ids + [self.eos_id]
    return ids


class SentencePieceTokenizer(Tokenizer):
  """A SentencePiece `.model` file."""

  def __init__(self, path: str):
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    if not os.path.exists(path):
      raise FileNotFoundError(f"SentencePiece model {path} not found")
    self.path = path
    self.sp = spm.SentencePieceProcessor(model_file=path)
    ids = lambda i: None if i < 0 else int(i)  # noqa: E731
    self.bos_id, self.eos_id = ids(self.sp.bos_id()), ids(self.sp.eos_id())
    self.pad_id = ids(self.sp.pad_id()) or 0
    piece = lambda i: None if i is None else self.sp.id_to_piece(i)  # noqa: E731
    self.bos_token, self.eos_token = piece(self.bos_id), piece(self.eos_id)
    from sentencepiece import sentencepiece_model_pb2 as pb  # pylint: disable=g-import-not-at-top
    proto = pb.ModelProto.FromString(self.sp.serialized_model_proto())
    kinds = (pb.ModelProto.SentencePiece.CONTROL,
             pb.ModelProto.SentencePiece.USER_DEFINED)
    self.special_tokens = {p.piece: i for i, p in enumerate(proto.pieces)
                           if p.type in kinds}

  def encode(self, text, add_bos=False, add_eos=False):
    return self._with_ends(list(self.sp.encode(text)), add_bos, add_eos)

  def decode(self, ids, skip_special=False):
    ids = self._in_range(ids)
    if skip_special:
      ids = [i for i in ids if not self.sp.is_control(i)]
    return self.sp.decode(ids)

  @property
  def vocab_size(self):
    return self.sp.get_piece_size()

  def token_texts(self):
    # Pieces keep the word-start marker that decode() strips.
    return [self.sp.id_to_piece(i).replace("\u2581", " ")
            for i in range(self.vocab_size)]

  def token_to_id(self, token):
    i = self.sp.piece_to_id(token)
    return None if i == self.sp.unk_id() and token != "<unk>" else int(i)

  def save(self, directory):
    """`tokenizer.model`, and a `tokenizer_config.json` that names a class:
    transformers >= 5 then builds the same tokenizer from the model file
    (normalizer, BPE merges, byte fallback, user-defined pieces)."""
    model = os.path.join(directory, SP_MODEL_FILE)
    _copy(self.path, model)
    config = {"tokenizer_class": "PreTrainedTokenizerFast",
              "bos_token": self.bos_token, "eos_token": self.eos_token,
              "pad_token": self.sp.id_to_piece(self.pad_id),
              "unk_token": self.sp.id_to_piece(self.sp.unk_id())}
    path = os.path.join(directory, chat_lib.CONFIG_FILE)
    _write_json(path, {k: v for k, v in config.items() if v is not None})
    return [model, path]


class HFTokenizer(Tokenizer):
  """A Hugging Face `tokenizer.json` (+ `tokenizer_config.json` if beside)."""

  def __init__(self, path: str, bos: str | None = None,
               eos: str | None = None, pad: str | None = None):
    from tokenizers import Tokenizer as _Tok  # pylint: disable=g-import-not-at-top
    if os.path.isdir(path):
      path = os.path.join(path, "tokenizer.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"tokenizer file {path} not found")
    self.path = path
    try:
      self.tok = _Tok.from_file(path)
    except Exception as e:  # the library raises a bare Exception
      raise ValueError(f"{path}: not a valid tokenizer.json ({e})") from e
    cfg_path = os.path.join(os.path.dirname(path), chat_lib.CONFIG_FILE)
    config = chat_lib.read_config(cfg_path)

    def token(explicit, key):
      """(text, id) of a special token: the argument, else the config's
      (a string, an AddedToken dict or null)."""
      if explicit:
        name, where = explicit, f"{key}={explicit!r}"
      else:
        where = f"{cfg_path}: field {key}"
        try:
          name = chat_lib.token_content(config.get(key))
        except ValueError as e:
          raise ValueError(f"{where}: {e}") from None
      if name is None:
        return None, None
      i = self.tok.token_to_id(name)
      if i is None:
        raise ValueError(f"{where}: {name!r} is not in the vocabulary of "
                         f"{path}")
      return name, i

    self.bos_token, self.bos_id = token(bos, "bos_token")
    self.eos_token, self.eos_id = token(eos, "eos_token")
    self.pad_token, pad_id = token(pad, "pad_token")
    self.pad_id = pad_id if pad_id is not None else (self.eos_id or 0)
    self.chat_template = chat_lib.load(cfg_path)
    overrides = {k: v for k, v, given in (
        ("bos_token", self.bos_token, bos), ("eos_token", self.eos_token, eos),
        ("pad_token", self.pad_token, pad)) if given}
    if self.chat_template is not None and overrides:
      self.chat_template = self.chat_template.with_tokens(**overrides)
    self.special_tokens = {t.content: i for i, t in
                           self.tok.get_added_tokens_decoder().items()}

  def encode(self, text, add_bos=False, add_eos=False):
    ids = self.tok.encode(text, add_special_tokens=False).ids
    return self._with_ends(list(ids), add_bos, add_eos)

  def decode(self, ids, skip_special=False):
    return self.tok.decode(self._in_range(ids),
                           skip_special_tokens=skip_special)

  @property
  def vocab_size(self):
    return self.tok.get_vocab_size(with_added_tokens=True)

  def token_to_id(self, token):
    return self.tok.token_to_id(token)

  def save(self, directory):
    """`tokenizer.json` and the files beside it that transformers reads
    (`tokenizer_config.json`, `special_tokens_map.json`,
    `chat_template.jinja`); a minimal `tokenizer_config.json` when none."""
    src = os.path.dirname(self.path)
    out = [os.path.join(directory, HF_FILE)]
    _copy(self.path, out[0])
    for name in HF_SIDE_FILES:
      if os.path.exists(os.path.join(src, name)):
        out.append(os.path.join(directory, name))
        _copy(os.path.join(src, name), out[-1])
    config = os.path.join(directory, chat_lib.CONFIG_FILE)
    if config not in out:
      _write_json(config, {k: v for k, v in (
          ("tokenizer_class", "PreTrainedTokenizerFast"),
          ("bos_token", self.bos_token), ("eos_token", self.eos_token),
          ("pad_token", self.pad_token)) if v is not None})
      out.append(config)
    return out


def _copy(src: str, dst: str) -> None:
  """Copies a file atomically (readers never see half of it); a no-op
  when `dst` is `src`."""
  if os.path.exists(dst) and os.path.samefile(src, dst):
    return
  os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
  shutil.copyfile(src, dst + ".tmp")
  os.replace(dst + ".tmp", dst)


def _write_json(path: str, value: dict) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
  os.replace(path + ".tmp", path)


def encode_prompt(tok: Tokenizer, text: str) -> list[int]:
  """Token ids of a rendered prompt, with one BOS when the tokenizer has one:
  added unless the text already starts with it (chat templates such as R1's
  and Llama 3's write `bos_token` themselves)."""
  ids = tok.encode(text)
  if tok.bos_id is not None and ids[:1] != [tok.bos_id]:
    ids = [tok.bos_id] + ids
  return ids


def load(path: str, **kw) -> Tokenizer:
  """A tokenizer from a `.model` file, a `tokenizer.json` or a model dir."""
  if path.endswith(".model"):
    return SentencePieceTokenizer(path)
  if path.endswith(".json") or os.path.exists(
      os.path.join(path, "tokenizer.json")):
    return HFTokenizer(path, **kw)
  if os.path.isdir(path):
    models = [f for f in os.listdir(path) if f.endswith(".model")]
    if len(models) == 1:
      return SentencePieceTokenizer(os.path.join(path, models[0]))
  raise FileNotFoundError(f"{path}: no tokenizer.json or SentencePiece "
                          ".model file found")


def train_sentencepiece(texts: Iterable[str], model_prefix: str,
                        vocab_size: int = 512, model_type: str = "bpe",
                        special_tokens: Sequence[str] = R1_SPECIAL_TOKENS,
                        character_coverage: float = 1.0,
                        **kw) -> SentencePieceTokenizer:
  """Trains a SentencePiece model locally; returns the loaded tokenizer.

  Ids: pad 0, unk 1, bos 2, eos 3; `special_tokens` are single pieces.
  Digits are split (one piece each) so arithmetic stays learnable; unknown
  characters fall back to bytes and text is not normalised (exact round trip).
  """
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(texts), model_prefix=model_prefix,
      vocab_size=vocab_size, model_type=model_type,
      character_coverage=character_coverage, pad_id=0, unk_id=1, bos_id=2,
      eos_id=3, user_defined_symbols=list(special_tokens), split_digits=True,
      byte_fallback=True, hard_vocab_limit=False, minloglevel=2,
      normalization_rule_name="identity", remove_extra_whitespaces=False,
      add_dummy_prefix=False,
      **kw)
  return SentencePieceTokenizer(model_prefix + ".model")
