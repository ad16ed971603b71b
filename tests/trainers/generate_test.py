"""The generate stage end to end: JSONL out, resume, HF model + tokenizer
directory in (config.init_from; r1jax workdirs: handoff_test.py), config
errors that name the field; written completions without EOS and
padding."""
import json

import numpy as np
import pytest

from configs import generate as generate_config
from r1jax.rewards import decode as decode_lib
from r1jax.trainers import generate
from tests.models import hf_refs
from tests.trainers import util


def _config(**kw):
  c = generate_config.get_config("demo")
  c.model.preset = "tiny"
  c.max_new_tokens = 6
  c.num_samples = 2
  c.batch_prompts = 4
  for k, v in kw.items():
    c[k] = v
  return c


def test_demo_writes_k_completions_and_resumes(tmp_path):
  path = generate.run(_config(), str(tmp_path))
  rows = [json.loads(l) for l in open(path)]
  assert len(rows) == 16
  for r in rows:
    assert r["text"].endswith(r["prompt"] + ". Assistant:")
    assert len(r["completions"]) == 2
    for comp in r["completions"]:
      assert 1 <= comp["num_tokens"] <= 6
      assert comp["logprob_sum"] < 0
      assert comp["finish_reason"] in ("stop", "length")
  # An interrupted run (last 6 prompts lost) resumes where it stopped.
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows[:10])
  generate.run(_config(), str(tmp_path))
  again = [json.loads(l) for l in open(path)]
  assert [r["prompt"] for r in again] == [r["prompt"] for r in rows]


def test_hf_model_directory_and_prompts_file(tmp_path):
  model = hf_refs.make_hf_model("llama_tied", vocab_size=320)
  model.save_pretrained(tmp_path / "model")
  sp = tmp_path / "sp"
  from r1jax import tokenizers
  tokenizers.train_sentencepiece(["what is 1 + 2 ? <answer> 3 </answer>"] * 20,
                                 str(sp / "tok"), vocab_size=300)
  (tmp_path / "p.jsonl").write_text(
      "\n".join(json.dumps({"question": q}) for q in ["1 + 1", "2 * 3", "x"]))
  c = _config(prompts=str(tmp_path / "p.jsonl"), prompt_field="question",
              tokenizer=str(sp / "tok.model"), template="plain", demo=False,
              init_from=str(tmp_path / "model"))
  rows = [json.loads(l) for l in open(generate.run(c, str(tmp_path / "w")))]
  assert [r["prompt"] for r in rows] == ["1 + 1", "2 * 3", "x"]


def test_tokenizer_larger_than_model_is_an_error(tmp_path):
  hf_refs.make_hf_model("llama_tied").save_pretrained(tmp_path / "model")
  c = _config(init_from=str(tmp_path / "model"))
  c.tokenizer = str(tmp_path / "w" / "tokenizer.model")
  generate.run(_config(), str(tmp_path / "w"))  # trains that tokenizer
  with pytest.raises(ValueError, match="tokenizer has 4.. ids but the model"):
    generate.run(c, str(tmp_path / "w2"))


@pytest.mark.parametrize("field,value,match", [
    ("template", "chatml", "config.template='chatml'"),
    ("cache_dtype", "int4", "config.cache_dtype='int4'"),
    ("demo", False, "config.prompts: a JSONL file"),
    ("prompts", "/nonexistent.jsonl", "file not found"),
])
def test_bad_config_names_the_field(tmp_path, field, value, match):
  with pytest.raises(ValueError, match=match):
    generate.run(_config(**{field: value}), str(tmp_path))


def test_init_from_and_its_deprecated_alias_must_agree(tmp_path):
  c = _config(init_from=str(tmp_path / "a"))
  c.model.hf_dir = str(tmp_path / "b")
  with pytest.raises(ValueError, match=r"set only config\.init_from"):
    generate.validate(c)
  c = _config(init_from=str(tmp_path / "nowhere"))
  with pytest.raises(ValueError, match=r"config\.init_from: .*not found"):
    generate.validate(c)


def test_written_text_drops_eos_and_padding(tmp_path):
  tok = util.hf_tokenizer(str(tmp_path / "hf"))
  done = tok.encode("<think> 4 </think> <answer> 42 </answer>")
  tokens = np.full((2, len(done) + 3), tok.pad_id, np.int32)
  tokens[0, :len(done) + 1] = done + [tok.eos_id]
  tokens[1, :3] = done[:3]
  out = {"tokens": tokens, "length": np.array([len(done) + 1, 3]),
         "logp": np.full(tokens.shape, -0.5, np.float32),
         "truncated": np.array([False, True])}
  with open(tmp_path / "g.jsonl", "w") as f:
    generate._write(f, ["q"], ["Q: q"], out, tok,
                    decode_lib.stripped_ids(tok), k=2)
  row = json.loads((tmp_path / "g.jsonl").read_text())
  assert [c["text"] for c in row["completions"]] == [
      "<think> 4 </think> <answer> 42 </answer>", tok.decode(done[:3])]
  assert [c["finish_reason"] for c in row["completions"]] == [
      "stop", "length"]
  assert row["completions"][0]["num_tokens"] == len(done) + 1
  assert row["completions"][1]["logprob_sum"] == -1.5


def test_prefill_follows_the_template(tmp_path):
  """config.prefill (R1's "<think>\\n") ends every written prompt text."""
  path = generate.run(_config(prefill="<think>\n"), str(tmp_path))
  rows = [json.loads(l) for l in open(path)]
  assert rows and all(r["text"].endswith(". Assistant:<think>\n")
                      for r in rows)
