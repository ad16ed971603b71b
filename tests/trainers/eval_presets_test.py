"""Every benchmark preset of configs/eval.py run end to end with its paper n
on files in the published formats, through a real R1-Distill chat template:
n generated == n scored for every k reported (lighteval #771 cannot
happen), `<think>\\n` prefilled for the R1 template, and the preset values
themselves (n per benchmark, sampling, budget, units)."""
import json
import pathlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs import eval as eval_config
from r1jax import tokenizers as tok_lib
from r1jax.data import benchmarks, templates
from r1jax.evaluation import evaluators, passk
from r1jax.trainers import evaluate
from tests.models import hf_refs
from tests.trainers import util

DATA = pathlib.Path(__file__).parent.parent / "data"
FILES = DATA / "benchmark_files"
CONFIGS = DATA / "tokenizer_configs"
R1_OLD = "deepseek-ai--DeepSeek-R1-Distill-Qwen-32B.json"  # no <think> in it
R1_NEW = "deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B.json"  # opens <think>
QWEN = "Qwen--Qwen2.5-7B-Instruct.json"
SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>",
            "<｜Assistant｜>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
            "<think>", "</think>"]


def _tokenizer_json(directory):
  util.bpe_tokenizer_json(
      str(directory), SPECIALS,
      ["Please reason step by step, and put your final answer within "
       "\\boxed{}. Answer: B", "What is 2+2? The answer is 4."] * 20,
      vocab_size=360)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  """A random Qwen2 HF directory with a byte-level BPE tokenizer holding
  R1's special tokens and DeepSeek-R1-Distill's published
  tokenizer_config.json (the original template: no <think> in it)."""
  d = tmp_path_factory.mktemp("r1_model")
  hf_refs.make_hf_model("qwen2_gqa7_tied", vocab_size=384).save_pretrained(d)
  _tokenizer_json(d)
  shutil.copy(CONFIGS / R1_OLD, d / "tokenizer_config.json")
  return d


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """Each benchmark's file in its published layout."""
  d = tmp_path_factory.mktemp("bench")
  aime24 = pa.schema([("id", pa.int64()), ("problem", pa.string()),
                      ("solution", pa.string()), ("answer", pa.string()),
                      ("url", pa.string()), ("year", pa.string())])
  (d / "aime_2024" / "data").mkdir(parents=True)
  pq.write_table(pa.Table.from_pylist(
      [dict(id=60 + i, problem=f"Find the {i}th value.", solution="...",
            answer=str(100 + i), url="u", year="2024") for i in range(3)],
      schema=aime24),
                 d / "aime_2024" / "data" / "train-00000-of-00001.parquet")
  gsm = pa.schema([("question", pa.string()), ("answer", pa.string())])
  (d / "gsm8k" / "main").mkdir(parents=True)
  pq.write_table(pa.Table.from_pylist(
      [dict(question="Q1?", answer="a <<2*3=6>>\n#### 6"),
       dict(question="Q2?", answer="b\n#### 1,000")], schema=gsm),
                 d / "gsm8k" / "main" / "test-00000-of-00001.parquet")
  return {"aime2024": d / "aime_2024" / "data" / "train-00000-of-00001.parquet",
          "aime2025": FILES / "opencompass_AIME2025",
          "math500": FILES / "MATH-500" / "test.jsonl",
          "gpqa_diamond": FILES / "gpqa_diamond.csv",
          "gsm8k": d / "gsm8k" / "main" / "test-00000-of-00001.parquet"}


SCORABLE = ("aime2024", "aime2025", "math500", "gpqa_diamond", "gsm8k")


def test_every_preset_scores_all_n_samples_for_every_k(model_dir, files,
                                                        tmp_path):
  arg = ",".join(SCORABLE) + ",limit=2,max_new_tokens=3,batch_rows=64"
  c = eval_config.get_config(arg)
  c.init_from = str(model_dir)
  c.model.dtype = c.model.param_dtype = "float32"
  for name, path in files.items():
    c.evals[name].file = str(path)
  evaluate.run(c, str(tmp_path))
  out = json.load(open(tmp_path / "eval.json"))
  rows = [json.loads(l) for l in open(tmp_path / "samples.jsonl")]
  for name in SCORABLE:
    n = eval_config.PAPER_N[name]
    m, s = out["results"][name], out["settings"][name]
    assert (m["n"], m["num_problems"], m["num_samples"]) == (n, 2, 2 * n)
    mine = [r for r in rows if r["eval"] == name]
    assert sorted((r["problem"], r["sample"]) for r in mine) == [
        (p, j) for p in range(2) for j in range(n)], name
    reported = sorted(int(k[5:]) for k in m
                      if k.startswith("pass@") and "_" not in k)
    assert reported == passk.default_ks(n) and reported[-1] == n, name
    assert f"cons@{n}" in m
    # The R1 template, with <think>\n prefilled (the template lacks it).
    assert s["prefill"] == "<think>\n" and s["think_opened"], name
    assert (s["temperature"], s["top_p"], s["system_prompt"]) == (
        0.6, 0.95, "")
  md = open(tmp_path / "eval.md").read()
  assert all(f"| {name} |" in md for name in SCORABLE)


@pytest.mark.parametrize("config,prefill,opened", [
    (R1_OLD, "<think>\n", True), (R1_NEW, "", True), (QWEN, "", False)])
def test_prefill_auto_follows_the_published_template(model_dir, tmp_path,
                                                     config, prefill, opened):
  shutil.copy(model_dir / "tokenizer.json", tmp_path / "tokenizer.json")
  shutil.copy(CONFIGS / config, tmp_path / "tokenizer_config.json")
  tok = tok_lib.load(str(tmp_path))
  e = eval_config.get_config("math500").evals.math500
  assert evaluators.resolve_prefill(e, tok) == prefill
  p = evaluators.prompter(e, tok)
  assert p.think_opened == opened
  text = p.render(benchmarks.BENCHMARKS["math500"].question(
      {"prompt": "What is 1+1?"}))
  assert text.count(templates.MATH_SUFFIX) == 1
  assert "<｜User｜>" in text or "<|im_start|>" in text


def test_paper_protocol_defaults():
  """[R1v2 D.1]: n = 64 AIME / GPQA, 16 MATH-500, 8 LiveCodeBench;
  T 0.6, top-p 0.95, 32,768 new tokens per completion (tokens, not
  characters); no system prompt; open_r1 swaps in its n values."""
  c = eval_config.get_config("r1")
  assert sorted(c.evals) == ["aime2024", "gpqa_diamond", "math500"]
  want = dict(aime2024=64, aime2025=64, math500=16, gpqa_diamond=64,
              livecodebench=8)
  for name, n in want.items():
    assert eval_config.PAPER_N[name] == n == (
        benchmarks.BENCHMARKS[name].default_n)
    e = eval_config.get_config(name).evals[name]
    assert (e.n, e.temperature, e.top_p, e.max_new_tokens) == (
        n, 0.6, 0.95, 32768)
    assert e.system_prompt == "" and e.template == "chat"
    assert e.prefill == "auto" and e.question_suffix == "auto"
  o = eval_config.get_config("r1,open_r1,livecodebench")
  assert {k: e.n for k, e in o.evals.items()} == dict(
      aime2024=64, math500=4, gpqa_diamond=8, livecodebench=16)
  assert "32,768 new tokens" in eval_config.__doc__
  t = eval_config.get_config("countdown,n=4").evals.countdown
  assert (t.n, t.template, t.max_new_tokens) == (4, "r1_zero", 256)
  with pytest.raises(ValueError, match="unknown evaluator 'aime24'"):
    eval_config.get_config("aime24")
