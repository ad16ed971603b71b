"""Preference files in their published layouts (tests/data/preference_files,
sources in its README), rendering through a published chat template vs
transformers, left truncation, the held-out split and bad rows."""
import gzip
import json
import pathlib
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax import tokenizers as tok_lib
from r1jax.data import preferences as prefs
from r1jax.data import tasks, templates
from tests.trainers import util

FILES = pathlib.Path(__file__).parent / "preference_files"
CONFIGS = pathlib.Path(__file__).parent / "tokenizer_configs"
_MESSAGES = pa.list_(pa.struct([("content", pa.string()),
                                ("role", pa.string())]))


@pytest.fixture(scope="module")
def sp_tok(tmp_path_factory):
  return tok_lib.load(util.tokenizer(str(tmp_path_factory.mktemp("tok"))))


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
  """A small BPE tokenizer with Qwen2.5-Instruct's published
  tokenizer_config.json (chat template, <|im_end|> EOS)."""
  d = tmp_path_factory.mktemp("qwen")
  corpus = [json.dumps(json.load(open(f)))
            for f in FILES.glob("*.json")] * 5
  util.bpe_tokenizer_json(str(d), ["<|endoftext|>", "<|im_start|>",
                                   "<|im_end|>"], corpus, vocab_size=400)
  shutil.copy(CONFIGS / "Qwen--Qwen2.5-7B-Instruct.json",
              d / "tokenizer_config.json")
  return str(d)


def test_hh_rlhf_prompt_is_the_prefix_up_to_the_last_assistant_turn():
  path = FILES / "hh-rlhf_train.jsonl.gz"
  (pair,) = prefs.load(str(path))
  raw = json.loads(gzip.open(path, "rt").readline())
  # trl's hh-rlhf recipe: the prompt ends at the last "\n\nAssistant:".
  cut = raw["chosen"].rfind("\n\nAssistant: ") + len("\n\nAssistant:")
  assert pair.prompt == raw["chosen"][:cut]
  assert pair.prompt.endswith("\n\nHuman: you cant read\n\nAssistant:")
  assert pair.chosen == " You can read?"
  assert pair.rejected == " there\u2019s a lot of stuff humans don\u2019t know"
  assert pair.prompt + pair.rejected == raw["rejected"]
  assert pair.where == f"{path}: row 1"


def test_ultrafeedback_binarized_parquet_with_score_margin(tmp_path):
  rows = json.load(open(FILES / "ultrafeedback_binarized_train_prefs.json"))
  schema = pa.schema([("prompt", pa.string()), ("prompt_id", pa.string()),
                      ("chosen", _MESSAGES), ("rejected", _MESSAGES),
                      ("messages", _MESSAGES), ("score_chosen", pa.float64()),
                      ("score_rejected", pa.float64())])
  path = tmp_path / "train_prefs-00000-of-00001.parquet"
  pq.write_table(pa.Table.from_pylist(rows, schema), path)
  (pair,) = prefs.load(str(tmp_path), fields=prefs.Fields(
      margin="score_chosen-score_rejected"))
  user = {"content": "Which books are still banned in Canada?",
          "role": "user"}
  assert pair.prompt == [user]
  assert [m["role"] for m in pair.chosen + pair.rejected] == [
      "assistant"] * 2
  assert pair.chosen[0]["content"].startswith("As a responsible")
  assert pair.rejected[0]["content"].startswith("According to the Canadian")
  assert pair.margin == 3.0


def test_skywork_message_lists_without_a_prompt_column():
  (pair,) = prefs.load(str(FILES / "skywork_reward_preference_80k.json"))
  assert pair.prompt[0]["content"].startswith("Jane has 12 apples.")
  assert pair.chosen[0]["content"].endswith("Each person gets 3 apples.")
  assert pair.rejected[0]["content"].endswith("Each person gets 4 apples.")


def test_trl_explicit_prompt_standard_and_conversational():
  standard, conversational = prefs.load(str(FILES / "trl_preference.jsonl"))
  assert (standard.prompt, standard.chosen, standard.rejected) == (
      "The sky is", " blue.", " green.")
  assert conversational.prompt == [{"role": "user",
                                    "content": "What color is the sky?"}]
  assert conversational.rejected == [{"role": "assistant",
                                      "content": "It is green."}]


def test_pointwise_pku_saferlhf_expands_each_row_and_trl_unpaired(tmp_path):
  fields = prefs.Fields(response="response_{i}",
                        label="is_response_{i}_safe")
  got = prefs.load(str(FILES / "pku_saferlhf_train.jsonl"), pairwise=False,
                   fields=fields)
  assert [r.label for r in got] == [1, 1]
  assert got[0].response.startswith("Setting up a webcam")
  assert got[1].response.startswith("To set up a webcam")
  row = json.loads(open(FILES / "pku_saferlhf_train.jsonl").readline())
  row["is_response_1_safe"] = False
  (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
  assert [r.label for r in prefs.load(str(tmp_path / "p.jsonl"),
                                      pairwise=False, fields=fields)] == [1, 0]
  blue, green = prefs.load(str(FILES / "trl_unpaired_preference.jsonl"),
                           pairwise=False,
                           fields=prefs.Fields(response="completion"))
  assert (blue.response, blue.label, green.label) == (" blue.", 1, 0)


def test_chat_rendering_matches_transformers(qwen_dir):
  transformers = pytest.importorskip("transformers")
  ref = transformers.PreTrainedTokenizerFast.from_pretrained(qwen_dir)
  tok = tok_lib.load(qwen_dir)
  (pair,) = prefs.load(str(FILES / "skywork_reward_preference_80k.json"))
  for response in (pair.chosen, pair.rejected):
    p_text, r_text, eos = prefs._render(pair.prompt, response, None,
                                        tok.chat_template, "")
    assert not eos  # the template closes the turn itself
    assert p_text == ref.apply_chat_template(
        pair.prompt, tokenize=False, add_generation_prompt=True)
    assert p_text + r_text == ref.apply_chat_template(
        pair.prompt + response, tokenize=False)
    ids = prefs.encode_one(tok, pair.prompt, response, max_len=4096)
    assert tok.decode(ids.tolist()) == p_text + r_text


def test_string_pairs_render_through_a_named_template_with_eos(sp_tok):
  pair = prefs.Pair("Compute 2 + 3.", " <answer> 5 </answer>",
                    " <answer> 6 </answer>")
  prompter = templates.make_prompter("r1_zero")
  (ex,), stats = prefs.encode([pair], sp_tok, prompter=prompter,
                              max_len=512)
  want = tok_lib.encode_prompt(sp_tok, templates.r1_zero("Compute 2 + 3.")) \
      + sp_tok.encode(" <answer> 5 </answer>") + [sp_tok.eos_id]
  assert ex["chosen"].tolist() == want
  assert ex["chosen"].dtype == np.int32 and stats.sequences == 2
  assert stats.truncated == 0


def test_left_truncation_keeps_the_end_and_counts(sp_tok):
  pair = prefs.Pair("a long prompt " * 20, " short", " a much longer reply"
                    " that goes on " * 3)
  full = prefs.encode_one(sp_tok, pair.prompt, pair.rejected, max_len=10**4)
  (ex,), stats = prefs.encode([pair], sp_tok, max_len=24)
  assert len(ex["chosen"]) == len(ex["rejected"]) == 24
  assert ex["rejected"].tolist() == full[-24:].tolist()
  assert ex["rejected"][-1] == sp_tok.eos_id  # the scored token survives
  assert (stats.truncated, stats.response_truncated) == (2, 1)


def test_split_holds_out_whole_prompts_stably():
  prompts = [f"question {i % 300}" for i in range(900)]
  recs = [prefs.Pair(p, "a", "b") for p in prompts]
  train, held = prefs.split(recs, 0.2, seed=3)
  assert not {r.prompt for r in train} & {r.prompt for r in held}
  assert len(held) / len(recs) == pytest.approx(0.2, abs=0.05)
  assert prefs.split(recs, 0.2, seed=3)[1] == held
  assert prefs.split(recs, 0.2, seed=4)[1] != held
  assert prefs.split(recs, 0.0)[1] == []
  # Message-list prompts hash their canonical JSON (key order ignored).
  m1, m2 = [{"role": "user", "content": "x"}], [{"content": "x",
                                                 "role": "user"}]
  assert prefs.prompt_key(m1) == prefs.prompt_key(m2)


def _answer(text):
  return int(text.split("<answer>")[1].split("</answer>")[0])


def _wrong_steps(text):
  """Worked steps "a op b=c." whose c is not a op b (Python's arithmetic)."""
  out = []
  for step in text.split("<think>")[1].split("</think>")[0].split():
    lhs, rhs = step.rstrip(".").split("=")
    if eval(lhs) != int(rhs):  # pylint: disable=eval-used
      out.append(step)
  return out


def test_synthetic_pairs_prefer_the_correct_answer():
  pairs = prefs.synthetic(num_prompts=60, num_ops=2, max_operand=4)
  assert len(pairs) == 60
  for p in pairs:
    expr = p.prompt[len("Compute "):p.prompt.index(". The final")]
    assert _answer(p.chosen) == eval(expr)  # pylint: disable=eval-used
    assert _answer(p.rejected) != eval(expr)  # pylint: disable=eval-used
    assert _wrong_steps(p.chosen) == [] and len(_wrong_steps(p.rejected)) == 1
  task = tasks.get("arithmetic", num_ops=2, max_operand=4,
                   allow_division=False)
  assert pairs[0].prompt == task.generate(0, 0)["prompt"]
  plus_minus = prefs.synthetic(num_prompts=20, ops="+-")
  assert not any("*" in p.prompt for p in plus_minus)
  labelled = prefs.synthetic(num_prompts=5, pairwise=False)
  assert [r.label for r in labelled] == [1, 0] * 5
  with pytest.raises(ValueError, match="ops="):
    prefs.synthetic(num_prompts=1, ops="/")


@pytest.mark.parametrize("row, match", [
    ({"prompt": "p", "chosen": "a"}, r"row 2 has no 'rejected' field.*"
     r"config\.data\.rejected_field"),
    ({"chosen": "x y", "rejected": "x z"}, r"row 2: .*Assistant"),
    ({"prompt": "p", "chosen": "a", "rejected": [{"role": "assistant",
                                                  "content": "b"}]},
     r"row 2: .*both be strings or both be lists"),
    ({"chosen": [{"role": "user", "content": "a"}],
      "rejected": [{"role": "user", "content": "b"}]},
     r"row 2: .*share no leading"),
])
def test_bad_rows_name_the_file_row_and_field(tmp_path, row, match):
  path = tmp_path / "bad.jsonl"
  good = {"prompt": "p", "chosen": "a", "rejected": "b"}
  path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
  with pytest.raises(ValueError, match=str(path) + ": " + match):
    prefs.load(str(path))


def test_bad_labels_and_margins_are_named(tmp_path):
  path = tmp_path / "bad.jsonl"
  path.write_text(json.dumps({"prompt": "p", "response": "r",
                              "label": "maybe"}) + "\n")
  with pytest.raises(ValueError, match=r"row 1: label 'label' must be 0/1"):
    prefs.load(str(path), pairwise=False)
  path.write_text(json.dumps({"prompt": "p", "chosen": "a",
                              "rejected": "b"}) + "\n")
  with pytest.raises(ValueError, match=r"row 1: margin column 'gap' "
                     r"\(config\.loss\.margin='gap'\)"):
    prefs.load(str(path), fields=prefs.Fields(margin="gap"))
