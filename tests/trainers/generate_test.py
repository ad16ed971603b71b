"""The generate stage (rejection sampling) end to end: filtered SFT data
that `sft` trains on unchanged, majority references, per-filter counts
that add up, a crash mid-generation resumed to the same files, an HF model
with a parquet prompts file, and config errors that name the field.
2 processes vs 1: multiprocess_test.py; r1jax workdirs: handoff_test.py."""
import json
import os
import pathlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs import generate as generate_config
from configs import sft as sft_config
from r1jax import tokenizers as tok_lib
from r1jax.data import pipeline
from r1jax.trainers import generate, sft
from tests.models import hf_refs
from tests.trainers import util

DATA = pathlib.Path(__file__).parents[1] / "data"
OUTPUTS = ("generations.jsonl", "sft.jsonl", "filter_report.json",
           "filter_report.md")


def _demo(**kw):
  c = generate_config.get_config("demo")
  c.model.preset = "tiny"
  c.prompts.max_new_tokens = 8
  c.batch_rows = 16
  # A random model answers nothing correctly: keep what passes these so
  # that the kept set depends on the samples.
  c.filters = ("trim_after_answer", "dedupe")
  c.max_per_prompt = 2
  c.update_from_flattened_dict(kw)
  return c


def _rejected(report):
  return {f["name"]: f["rejected"] for f in report["filters"]}


def _rows(path):
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def test_a_crash_mid_generation_resumes_to_the_same_files(tmp_path):
  a, b = tmp_path / "a", tmp_path / "b"
  generate.run(_demo(), str(a))
  gens = _rows(a / "generations.jsonl")
  assert len(gens) == 16 * 4
  report = json.loads((a / "filter_report.json").read_text())
  assert report["kept"] + sum(_rejected(report).values()) == 64
  assert report["kept"] == len(_rows(a / "sft.jsonl")) > 0
  assert max(sum(s["id"] == i and s["rejected_by"] is None for s in gens)
             for i in {s["id"] for s in gens}) == 2
  # The crash: the first batch (16 rows) written, the second cut mid-line,
  # the other batches and every output missing.
  shutil.copytree(a / "shards", b / "shards")
  shard = b / "shards" / "samples.p0.jsonl"
  lines = shard.read_bytes().split(b"\n")[:-1]
  assert len(lines) == 64
  shard.write_bytes(b"\n".join(lines[:16]) + b"\n" + lines[16][:20])
  shutil.copy(a / "tokenizer.model", b / "tokenizer.model")
  generate.run(_demo(), str(b))
  for name in OUTPUTS:
    assert (b / name).read_bytes() == (a / name).read_bytes(), name


def _completions(tmp_path):
  """Prompts (one without a reference) and completions made elsewhere, in
  the R1-Zero layout, with the samples each filter should take."""
  prompts = [{"prompt": "Compute 2 + 2.", "answer": "4", "id": "p0"},
             {"prompt": "Compute 3 * 2.", "id": "p1"},
             {"prompt": "Compute 9 - 2.", "answer": "7", "id": "p2"}]
  ok = " <think> {0} </think> <answer> {1} </answer>"
  comps = {
      "p0": [ok.format("2 + 2 = 4", 4), ok.format("2 + 2 = 4", 4),  # dup
             ok.format("2 + 2 = 5", 5),  # wrong
             ok.format("```python\nprint(2 + 2)\n```", 4)],  # code block
      "p1": [ok.format("3 * 2 = 6", 6), ok.format("3 + 3 = 6", 6),
             ok.format("2 * 3 = 6", 6), ok.format("3 * 2 = 5", 5)],
      "p2": [ok.format("9 - 2 = 7", 7) + " Also, nice weather today.",
             ok.format("9 - 2 = 6", 6), ok.format("9 - 2 = 8", 8),
             " <think> 9 - 2 </think>"],
  }
  pfile, cfile = tmp_path / "prompts.jsonl", tmp_path / "completions.jsonl"
  pfile.write_text("".join(json.dumps(p) + "\n" for p in prompts))
  cfile.write_text("".join(json.dumps({"id": k, "completions": v}) + "\n"
                           for k, v in comps.items()))
  return str(pfile), str(cfile)


def _student_tokenizer(directory) -> str:
  """A tokenizer.json directory with DeepSeek-R1-Distill's published chat
  template (its generation prompt opens <think>)."""
  util.hf_tokenizer(str(directory))
  cfg = json.loads((DATA / "tokenizer_configs" /
                    "deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B.json"
                    ).read_text())
  path = directory / "tokenizer_config.json"
  ours = json.loads(path.read_text())
  ours["chat_template"] = cfg["chat_template"]
  path.write_text(json.dumps(ours))
  return str(directory)


def test_filters_majority_and_an_sft_run_on_the_output(tmp_path):
  pfile, cfile = _completions(tmp_path)
  student = _student_tokenizer(tmp_path / "student")
  c = generate_config.get_config("r1")
  c.tokenizer = util.tokenizer(str(tmp_path))
  c.prompts.file, c.prompts.completions_file = pfile, cfile
  c.prompts.template, c.prompts.think_opened = "r1_zero", "false"
  c.filters = ("correct", "code_block", "trim_after_answer", "dedupe")
  c.max_per_prompt = 2
  c.target.tokenizer, c.target.template = student, "chat"
  out = generate.run(c, str(tmp_path / "rs"))
  gens = {(s["id"], s["sample"]): s
          for s in _rows(tmp_path / "rs" / "generations.jsonl")}
  by = {k: s["rejected_by"] for k, s in gens.items()}
  assert by[("p0", 0)] is None and by[("p0", 1)] == "dedupe"
  assert by[("p0", 2)] == "correct" and by[("p0", 3)] == "code_block"
  # p1 has no reference: 3 of 4 samples agree on 6, the majority.
  assert {gens[("p1", j)]["reference"] for j in range(4)} == {"6"}
  assert [gens[("p1", j)]["correct"] for j in range(4)] == [True] * 3 + [
      False]
  assert sorted(str(by[("p1", j)]) for j in range(3)) == [
      "None", "None", "max_per_prompt"]
  assert by[("p2", 0)] is None and "weather" not in gens[("p2", 0)]["text"]
  report = json.loads((tmp_path / "rs" / "filter_report.json").read_text())
  assert _rejected(report) == {"correct": 5, "code_block": 1,
                                "trim_after_answer": 0, "dedupe": 1,
                                "max_per_prompt": 1, "target_prefix": 0}
  assert report["kept"] == 4 and report["total"] == 12
  rows = _rows(out)
  assert len(rows) == 4
  for r in rows:
    # The student's template opens <think>: the completion continues it.
    assert r["prompt"].endswith("<｜Assistant｜><think>\n")
    assert not r["completion"].lstrip().startswith("<think>")
    assert r["completion"].rstrip().endswith("</answer>")
  # `sft` reads the file unchanged; every completion ends in the student's
  # EOS.
  tok = tok_lib.load(student)
  for _, mask in pipeline.encode_sft(rows, tok):
    assert mask[-1] == 1
  ids = [ids for ids, _ in pipeline.encode_sft(rows, tok)]
  assert all(x[-1] == tok.eos_id for x in ids)
  s = sft_config.get_config()
  s.data.train_file, s.tokenizer = out, student
  s.data.batch_size, s.data.seq_len, s.steps = 4, 96, 2
  s.mesh.shape = (4, 1, 2)
  s.optim.warmup_steps = 1
  s.log.every = 1
  s.checkpoint.every = -1
  last = sft.run(s, str(tmp_path / "student_run"))
  assert last["loss"] > 0


def test_hf_model_and_openr1_style_parquet_prompts(tmp_path):
  model = hf_refs.make_hf_model("llama_tied", vocab_size=320)
  model.save_pretrained(tmp_path / "model")
  shutil.copy(util.tokenizer(str(tmp_path)), tmp_path / "model" /
              tok_lib.SP_MODEL_FILE)
  pq.write_table(pa.table({"problem": ["1 + 1", "2 * 3", "x"],
                           "answer": ["2", "6", ""],
                           "uuid": ["u1", "u2", "u3"]}),
                 tmp_path / "train-00000-of-00001.parquet")
  c = generate_config.get_config("r1")
  c.init_from = str(tmp_path / "model")
  c.model.dtype = c.model.param_dtype = "float32"
  c.prompts.file = str(tmp_path / "train-00000-of-00001.parquet")
  c.prompts.loader_kwargs.prompt_field = "problem"
  c.prompts.loader_kwargs.id_field = "uuid"
  c.prompts.template, c.prompts.n, c.prompts.max_new_tokens = "plain", 2, 4
  c.filters = ()  # a random model: keep every sample
  c.batch_rows = 8
  generate.run(c, str(tmp_path / "w"))
  gens = _rows(tmp_path / "w" / "generations.jsonl")
  assert [(s["id"], s["sample"]) for s in gens] == [
      (u, j) for u in ("u1", "u2", "u3") for j in range(2)]
  assert {s["reference_source"] for s in gens if s["id"] == "u1"} == {
      "given"}


@pytest.mark.parametrize("kw,match", [
    ({"filters": ("correct", "nope")}, "config.filters"),
    ({"filters": ("decontaminate",)}, "config.decontaminate: the"),
    ({"select_by": "vibes"}, "config.select_by='vibes'"),
    ({"target.template": "chatml"}, "config.target.template='chatml'"),
    ({"prompts.benchmark": "file", "prompts.file": ""},
     "config.prompts.file=''"),
    ({"decontaminate.math501": "x"}, "config.decontaminate.math501"),
    ({"filter_options.length.max_z": "high"},
     "config.filter_options.length.max_z"),
])
def test_bad_config_names_the_field(tmp_path, kw, match):
  c = _demo()
  if "decontaminate.math501" in kw:
    c.decontaminate.math501 = kw.pop("decontaminate.math501")
  if "filter_options.length.max_z" in kw:
    c.filter_options.length = {"max_z": kw.pop(
        "filter_options.length.max_z")}
  c.update_from_flattened_dict(kw)
  with pytest.raises(ValueError, match=match):
    generate.validate(c)


def test_decontamination_against_a_benchmark_file(tmp_path):
  math500 = DATA / "benchmark_files" / "MATH-500" / "test.jsonl"
  first = json.loads(math500.read_text().splitlines()[0])["problem"]
  pfile = tmp_path / "p.jsonl"
  pfile.write_text(json.dumps({"prompt": first, "answer": "1", "id": "leak"})
                   + "\n" + json.dumps({"prompt": "Compute 1 * 1.",
                                        "answer": "1", "id": "clean"}) + "\n")
  cfile = tmp_path / "c.jsonl"
  cfile.write_text("".join(json.dumps(
      {"id": i, "completions": [" <think> 1 </think> <answer> 1 </answer>"]})
      + "\n" for i in ("leak", "clean")))
  c = generate_config.get_config("r1")
  c.tokenizer = util.tokenizer(str(tmp_path))
  c.prompts.file, c.prompts.completions_file = str(pfile), str(cfile)
  c.prompts.template, c.prompts.think_opened = "r1_zero", "false"
  c.prompts.n = 1
  c.filters = ("correct", "decontaminate")
  c.decontaminate.math500 = str(math500)
  generate.run(c, str(tmp_path / "w"))
  by = {s["id"]: s["rejected_by"]
        for s in _rows(tmp_path / "w" / "generations.jsonl")}
  assert by == {"leak": "decontaminate", "clean": None}
  assert os.path.exists(tmp_path / "w" / "filter_report.md")


def test_task_variant_keeps_correct_numeric_chains_of_thought(tmp_path):
  """A synthetic task's default chain keeps a correct R1-Zero-style trace
  whose CoT is numbers and symbols (no words for the language filter)."""
  c = generate_config.get_config("arithmetic")
  c.tokenizer = util.tokenizer(str(tmp_path))
  c.prompts.task_count, c.prompts.n = 3, 2
  from r1jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  exs = evaluators.load_examples(c.prompts)
  cfile = tmp_path / "c.jsonl"
  cfile.write_text("".join(json.dumps({"id": e["id"], "completions": [
      f" <think> 2+5=7. 7-1=6. </think> <answer> {e['answer']} </answer>",
      " <think> 2+5=8. </think> <answer> -12345 </answer>"]}) + "\n"
      for e in exs))
  c.prompts.completions_file, c.prompts.think_opened = str(cfile), "false"
  generate.run(c, str(tmp_path / "w"))
  gens = _rows(tmp_path / "w" / "generations.jsonl")
  assert [g["rejected_by"] for g in gens] == [None, "correct"] * 3


def test_nothing_kept_fails_naming_the_filters(tmp_path):
  """Every sample wrong: the stage writes its report, then fails naming
  the filter that rejected them (an empty sft.jsonl would let the next
  stage train on nothing)."""
  pfile = tmp_path / "p.jsonl"
  pfile.write_text(json.dumps({"prompt": "Compute 2 + 2.", "answer": "4",
                               "id": "a"}) + "\n")
  cfile = tmp_path / "c.jsonl"
  cfile.write_text(json.dumps({"id": "a", "completions": [
      " <think> 2 + 2 = 5 </think> <answer> 5 </answer>"] * 2}) + "\n")
  c = generate_config.get_config("r1")
  c.tokenizer = util.tokenizer(str(tmp_path))
  c.prompts.file, c.prompts.completions_file = str(pfile), str(cfile)
  c.prompts.template, c.prompts.think_opened = "r1_zero", "false"
  c.prompts.n = 2
  c.filters = ("correct", "dedupe")
  with pytest.raises(generate.NothingKeptError,
                     match=r"kept 0 of 2 samples \(rejected by: correct 2\)"):
    generate.run(c, str(tmp_path / "w"))
  report = json.loads((tmp_path / "w" / "filter_report.json").read_text())
  assert report["kept"] == 0
