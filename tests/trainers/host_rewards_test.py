"""score_rollout on one process with 8 devices: the totals and metrics of
compute_rewards over all rows; completions that end in EOS keep format."""
import json

import numpy as np
import pytest
import tokenizers as hf_tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import registry
from r1jax.rewards import total as reward_total
from r1jax.trainers import host_rewards, rl_data

CORPUS = ["<think> 12 + 30 = 42, wait, check it </think> <answer> 42 "
          "</answer>", "The answer is \\frac{1}{2}. (B)"] * 50


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
  """Byte-level BPE tokenizer.json; EOS `<|im_end|>` is a special token."""
  t = hf_tokenizers.Tokenizer(models.BPE())
  t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  t.decoder = decoders.ByteLevel()
  t.train_from_iterator(CORPUS, trainers.BpeTrainer(
      vocab_size=300, special_tokens=["<|endoftext|>", "<|im_end|>"],
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  t.add_tokens([hf_tokenizers.AddedToken(s, special=False)
                for s in tok_lib.R1_SPECIAL_TOKENS])
  d = tmp_path_factory.mktemp("hf")
  t.save(str(d / "tokenizer.json"))
  (d / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}))
  return tok_lib.load(str(d))


class _Comp:
  """The three fields of sampling.Completions that rewards read."""

  def __init__(self, tokens_BxM, length_B, truncated_B):
    self.tokens_BxM, self.length_B = tokens_BxM, length_B
    self.truncated_B = truncated_B


def _rollout(tok, texts, eos, mesh):
  """Global arrays on `mesh` as the sampler returns them: completions padded
  after their stop token; lengths replicated (another sharding)."""
  ids = [tok.encode(t) + ([tok.eos_id] if e else []) for t, e in
         zip(texts, eos)]
  m = max(len(x) for x in ids) + 2
  tokens = np.full((len(ids), m), tok.pad_id, np.int32)
  for i, x in enumerate(ids):
    tokens[i, :len(x)] = x
  length = np.array([len(x) for x in ids], np.int32)
  truncated = ~np.array(eos)
  return _Comp(rl_data.place(tokens, mesh, ("act_batch", None)),
               rl_data.place(length, mesh, (None,)),
               rl_data.place(truncated, mesh, ("act_batch",))), \
      (tokens, length, truncated)


def test_score_rollout_equals_compute_rewards_on_all_rows(tok):
  mesh = shd.make_mesh((2, 2, 2))
  texts = ["<think> 12 + 30 = 42 </think> <answer> 42 </answer>",
           "<think> wait, check </think> <answer> 41 </answer>",
           "<think> x </think> <answer> \\frac{1}{2} </answer>",
           "<think> x </think> <answer> 0.5 </answer> more",
           "The answer is (B)", "<answer> B </answer>",
           "<think> check, wait </think>", ""] * 2
  examples = [{"prompt": "12 + 30", "answer": "42", "task": "arithmetic"},
              {"prompt": "12 + 29", "answer": "42", "task": "arithmetic"},
              {"prompt": "half", "answer": "1/2"},
              {"prompt": "half", "answer": "1/2"},
              {"prompt": "pick", "answer": "B", "answer_type": "choice"},
              {"prompt": "pick", "answer": "B", "answer_type": "choice"},
              {"prompt": "12 + 30", "answer": "42", "task": "arithmetic"},
              {"prompt": "half", "answer": "1/2"}] * 2
  eos = [True, False] * 8
  comp, (tokens, length, truncated) = _rollout(tok, texts, eos, mesh)
  weights = dict(accuracy=1.0, format=0.5, truncation=0.25, repetition=0.1)
  options = reward_total.default_reward_options().to_dict()
  options["accuracy"]["num_workers"] = 1
  total_B, metrics = host_rewards.score_rollout(
      tok, comp, examples, weights, options, think_opened=False)

  batch = registry.RewardBatch(decode_lib.decode(tok, tokens, length),
                               examples, lengths_B=length,
                               truncated_B=truncated)
  want_B, want = reward_total.compute_rewards(batch, weights, options)
  want.update(rl_data.text_metrics(batch.completions, False))
  assert total_B.dtype == np.float32
  np.testing.assert_array_equal(total_B, want_B)
  assert metrics == want
  assert metrics["rewards/accuracy"] > 0 and metrics["rewards/format"] > 0
  assert "rewards/accuracy/timeouts" in metrics


def test_completion_ending_in_eos_keeps_format(tok):
  mesh = shd.make_mesh((2, 2, 2))
  done = "<think> 12 + 30 = 42 </think> <answer> 42 </answer>"
  ids = tok.encode(done)
  assert tok.decode(ids + [tok.eos_id]).endswith("<|im_end|>")
  comp, _ = _rollout(tok, [done, done, "<think> 4", done] * 2,
                     [True, True, False, False] * 2, mesh)
  ex = [{"prompt": "12 + 30", "answer": "42", "task": "arithmetic"}] * 8
  total_B, metrics = host_rewards.score_rollout(
      tok, comp, ex, {"format": 1.0, "accuracy": 1.0}, None,
      think_opened=False)
  np.testing.assert_array_equal(total_B, [2, 2, 0, 2] * 2)
  assert metrics["rewards/format"] == 0.75


def test_row_owners_one_process():
  mesh = shd.make_mesh((2, 2, 2))
  x = rl_data.place(np.zeros((8, 3), np.int32), mesh, ("act_batch", None))
  np.testing.assert_array_equal(host_rewards.row_owners(x, np.zeros(8)),
                                np.zeros(8))
  with pytest.raises(ValueError, match="examples_B has 3 examples for 8"):
    host_rewards.score_rollout(None, _Comp(x, x[:, 0], x[:, 0]), [{}] * 3,
                               {}, None, think_opened=False)
