"""Both tokenizer implementations behind the one interface."""
import json

import pytest
import tokenizers as hf_tokenizers
from tokenizers import models, pre_tokenizers, decoders, trainers

from r1jax import tokenizers as tok_lib

CORPUS = [
    "A conversation between User and Assistant. <think> 12 + 30 = 42 "
    "</think> <answer> 42 </answer>",
    "Wait, let me check: 7 * 6 = 42. Das ist richtig. 答案是四十二。",
    "The quick brown fox jumps over the lazy dog 0123456789.",
] * 50
TEXTS = ["<think> 3 + 4 = 7 </think> <answer> 7 </answer>",
         "Wait, verify: 128 / 4 = 32.", "Ünïcödé und 中文 too", ""]


@pytest.fixture(scope="module")
def sp_tok(tmp_path_factory):
  prefix = str(tmp_path_factory.mktemp("sp") / "tok")
  return tok_lib.train_sentencepiece(CORPUS, prefix, vocab_size=400)


@pytest.fixture(scope="module")
def hf_tok(tmp_path_factory):
  """A byte-level BPE tokenizer.json with Qwen-style special tokens."""
  tok = hf_tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>",
              *tok_lib.R1_SPECIAL_TOKENS]
  tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
      vocab_size=300, special_tokens=specials,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  d = tmp_path_factory.mktemp("hf")
  tok.save(str(d / "tokenizer.json"))
  (d / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
       "bos_token": None}))
  return tok_lib.load(str(d)), specials


@pytest.mark.parametrize("text", TEXTS)
def test_sentencepiece_round_trip(sp_tok, text):
  assert sp_tok.decode(sp_tok.encode(text)) == text


def test_sentencepiece_ids_and_specials(sp_tok):
  assert (sp_tok.pad_id, sp_tok.bos_id, sp_tok.eos_id) == (0, 2, 3)
  ids = sp_tok.encode("<answer>", add_bos=True, add_eos=True)
  assert ids == [2, sp_tok.token_to_id("<answer>"), 3]
  for t in tok_lib.R1_SPECIAL_TOKENS:
    assert t in sp_tok.special_tokens
    assert len(sp_tok.encode(t)) == 1
  assert len(sp_tok.encode("9081")) == 4  # digits split
  assert sp_tok.decode(ids, skip_special=True) == "<answer>"
  assert sp_tok.vocab_size >= 300
  # Ids past the vocabulary (padded embeddings) decode to nothing.
  assert sp_tok.decode(ids + [sp_tok.vocab_size + 5]) == sp_tok.decode(ids)


@pytest.mark.parametrize("text", TEXTS)
def test_hf_round_trip(hf_tok, text):
  tok, _ = hf_tok
  assert tok.decode(tok.encode(text)) == text


def test_hf_special_tokens_from_config(hf_tok):
  tok, specials = hf_tok
  assert tok.eos_id == tok.token_to_id("<|im_end|>")
  assert tok.pad_id == tok.token_to_id("<|endoftext|>")
  assert tok.bos_id is None
  assert set(tok.special_tokens) == set(specials)
  text = "<|im_start|>user\nHi<|im_end|><think>\n"
  ids = tok.encode(text)
  assert tok.token_to_id("<think>") in ids
  assert tok.decode(ids) == text
  assert tok.decode(ids, skip_special=True) == "user\nHi\n"
  with pytest.raises(ValueError, match="no BOS token"):
    tok.encode("x", add_bos=True)


def test_load_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
    tok_lib.load(str(tmp_path))
  (tmp_path / "tokenizer.json").write_text("{not json")
  with pytest.raises(ValueError, match="not a valid tokenizer.json"):
    tok_lib.load(str(tmp_path))
