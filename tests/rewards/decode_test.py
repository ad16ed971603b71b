"""Host and device format rewards agree on sampled completions that end in
a stop token, for a SentencePiece and a Hugging Face tokenizer (EOS
`<|im_end|>` after `</answer>`), with `<think>` opened by the template."""
import json

import jax
import numpy as np
import pytest
import tokenizers as hf_tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from r1jax import tokenizers as tok_lib
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import format as host_format
from r1jax.rewards.device import format as dfmt
from r1jax.rewards.device import vocab

CORPUS = ["<think> 12 + 30 = 42 </think> <answer> 42 </answer>",
          "Wait, let me check: 7 * 6 = 42. The answer is 42."] * 50
# (completion text, whether the strict layout holds without / with an
# opened <think>).
CASES = [
    ("<think> 3 + 4 = 7 </think> <answer> 7 </answer>", True, False),
    (" 3 + 4 = 7 </think> <answer> 7 </answer>", False, True),
    ("<think> 3 + 4 = 7 </think> <answer> 7 </answer> and more", False,
     False),
    ("<think> 3 + 4 = 7 </think>", False, False),
]


def _hf(tmp_path, tags_special: bool):
  """Byte-level BPE tokenizer.json as the `tokenizers` library writes it:
  Qwen-style specials; the R1 tags added as special (some tokenizers) or
  normal (R1-Distill: "special": false) tokens."""
  tok = hf_tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
      vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>",
                                      "<|im_end|>"],
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  tags = [hf_tokenizers.AddedToken(t, special=tags_special)
          for t in tok_lib.R1_SPECIAL_TOKENS]
  tok.add_tokens(tags)
  tok.save(str(tmp_path / "tokenizer.json"))
  (tmp_path / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
       "bos_token": None}))
  return tok_lib.load(str(tmp_path))


@pytest.fixture(params=["sentencepiece", "hf_tags_normal",
                        "hf_tags_special"])
def tok(request, tmp_path):
  if request.param == "sentencepiece":
    return tok_lib.train_sentencepiece(CORPUS, str(tmp_path / "sp"),
                                       vocab_size=300)
  return _hf(tmp_path, request.param == "hf_tags_special")


def _rows(tok, texts, m=48):
  """Sampler-shaped rows: completion ids, then EOS, then padding."""
  tokens = np.full((len(texts), m), tok.pad_id, np.int32)
  lengths = np.zeros((len(texts),), np.int32)
  for i, t in enumerate(texts):
    ids = tok.encode(t) + [tok.eos_id]
    tokens[i, :len(ids)] = ids
    lengths[i] = len(ids)
  return tokens, lengths


@pytest.mark.parametrize("think_opened", [False, True])
def test_host_and_device_format_agree_on_eos_terminated_rows(tok,
                                                             think_opened):
  texts = [t for t, _, _ in CASES]
  want = [w_open if think_opened else w for _, w, w_open in CASES]
  tokens, lengths = _rows(tok, texts)
  assert tok.decode(tokens[0, :lengths[0]]).endswith(
      tok.decode([tok.eos_id]))  # the EOS really is in the completion
  host = [host_format.is_formatted(t, think_opened)
          for t in decode_lib.decode(tok, tokens, lengths)]
  assert host == want
  mask = (np.arange(tokens.shape[1])[None] < lengths[:, None]).astype(
      np.int32)
  device = jax.jit(dfmt.format_reward, static_argnums=(3, 4))(
      tokens, mask, decode_lib.token_classes(tok),
      vocab.Tags.from_encode(tok.encode), think_opened)
  np.testing.assert_array_equal(np.asarray(device), np.asarray(want, float))


def test_stripped_ids_keep_the_tags_and_drop_eos(tok):
  strip = decode_lib.stripped_ids(tok)
  assert tok.eos_id in strip and tok.pad_id in strip
  for t in tok_lib.R1_SPECIAL_TOKENS:
    assert tok.token_to_id(t) not in strip
