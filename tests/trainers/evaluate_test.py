"""The eval stage end to end on a tiny HF model directory: outputs, n
generated == n scored, resume after an interruption (also a real SIGTERM),
device-count independence, completions made elsewhere, config errors."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from configs import eval as eval_config
from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.evaluation import evaluators, runner
from r1jax.trainers import evaluate
from tests.models import hf_refs
from tests.trainers import util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  """A random Llama-architecture HF directory with a SentencePiece
  tokenizer.model beside it."""
  d = tmp_path_factory.mktemp("eval_model")
  hf_refs.make_hf_model("llama_tied", vocab_size=320).save_pretrained(
      d / "model")
  shutil.copy(util.tokenizer(str(d)), d / "model" / tok_lib.SP_MODEL_FILE)
  return str(d / "model")


def _config(model_dir, arg="arithmetic", **kw):
  c = eval_config.get_config(arg)
  c.init_from = model_dir
  c.model.dtype = c.model.param_dtype = "float32"
  c.batch_rows = 8
  for e in c.evals.values():
    e.n = 2
    e.max_new_tokens = 6
    e.task_count = 6
    e.loader_kwargs = {"num_ops": 1}
  for k, v in kw.items():
    c[k] = v
  return c


def _lines(path):
  return [json.loads(l) for l in open(path, encoding="utf-8")]


def test_outputs_and_n_generated_equals_n_scored(model_dir, tmp_path):
  results = evaluate.run(_config(model_dir), str(tmp_path))
  m = results["arithmetic"]
  assert m["n"] == 2 and m["num_problems"] == 6 and m["num_samples"] == 12
  assert {"pass@1", "pass@1_stderr", "pass@2", "cons@2"} <= set(m)
  out = json.load(open(tmp_path / "eval.json"))
  assert out["results"]["arithmetic"] == pytest.approx(m)
  s = out["settings"]["arithmetic"]
  assert (s["n"], s["temperature"], s["top_p"], s["max_new_tokens"]) == (
      2, 0.6, 0.95, 6)
  assert s["template"] == "r1_zero" and s["prompt_tokens_max"] > 0
  assert out["meta"]["devices"] == 8 and out["meta"]["mesh"]["data"] == 8
  rows = _lines(tmp_path / "samples.jsonl")
  assert len(rows) == 12
  assert sorted((r["problem"], r["sample"]) for r in rows) == [
      (p, j) for p in range(6) for j in range(2)]
  for r in rows:
    assert set(r) >= {"eval", "id", "completion", "answer", "correct",
                      "length", "truncated", "formatted", "status"}
    assert 1 <= r["length"] <= 6
  assert m["pass@1"] == pytest.approx(np.mean([r["correct"] for r in rows]))
  md = open(tmp_path / "eval.md").read()
  assert "arithmetic" in md and "0.6" in md


def _shard_lines(workdir):
  path = runner.shard_path(os.path.join(workdir, "evals", "arithmetic"), 0)
  return open(path, encoding="utf-8").readlines(), path


def test_resume_after_interruption_equals_uninterrupted(model_dir, tmp_path):
  c = _config(model_dir)
  for e in c.evals.values():
    e.task_count = 12  # 24 units = 3 batches of 8
  want = evaluate.run(c, str(tmp_path / "a"))
  # b: one batch done, the second cut mid-line by the interruption.
  evaluate.run(c, str(tmp_path / "b"))
  lines, path = _shard_lines(str(tmp_path / "b"))
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(lines[:8] + [lines[8][:20]])
  for name in ("eval.json", "samples.jsonl"):
    os.remove(tmp_path / "b" / name)
  calls = []
  orig = runner._sample_rows  # pylint: disable=protected-access
  try:
    runner._sample_rows = lambda *a, **k: calls.append(1) or orig(*a, **k)  # pylint: disable=protected-access
    got = evaluate.run(c, str(tmp_path / "b"))
  finally:
    runner._sample_rows = orig  # pylint: disable=protected-access
  assert len(calls) == 2  # the finished batch is not redone
  assert got == want
  assert _lines(tmp_path / "b" / "samples.jsonl") == _lines(
      tmp_path / "a" / "samples.jsonl")


def test_sigterm_then_rerun_gives_the_same_eval_json(model_dir, tmp_path):
  """A real SIGTERM while the CLI evaluates; the rerun finishes the rest."""
  args = [sys.executable, "-m", "r1jax.main",
          "--config=configs/eval.py:arithmetic,n=4,max_new_tokens=6,"
          "batch_rows=8", f"--config.init_from={model_dir}",
          "--config.model.dtype=float32", "--config.model.param_dtype=float32",
          "--config.evals.arithmetic.task_count=24"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  work = tmp_path / "killed"
  proc = subprocess.Popen(args + [f"--workdir={work}"], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  shard = runner.shard_path(str(work / "evals" / "arithmetic"), 0)
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and proc.poll() is None:
    if os.path.exists(shard) and os.path.getsize(shard) > 0:
      proc.send_signal(signal.SIGTERM)
      break
    time.sleep(0.05)
  proc.wait(timeout=120)
  assert proc.returncode == -signal.SIGTERM, proc.stderr.read()[-3000:]
  assert not (work / "eval.json").exists()
  done = len(open(shard).readlines())
  assert 0 < done < 96
  for d in (work, tmp_path / "clean"):
    r = subprocess.run(args + [f"--workdir={d}"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
  got, want = (json.load(open(d / "eval.json"))
               for d in (work, tmp_path / "clean"))
  assert got["results"] == want["results"]
  assert got["settings"] == want["settings"]
  assert _lines(work / "samples.jsonl") == _lines(
      tmp_path / "clean" / "samples.jsonl")


@pytest.mark.parametrize("shape", [(8, 1, 1), (2, 2, 2)])
def test_records_do_not_depend_on_the_device_count(model_dir, shape):
  c = _config(model_dir)
  tok = tok_lib.load(model_dir)
  (name, e), = c.evals.items()
  p = evaluate.protocol(c, name, e, tok, evaluators.load_examples(e))

  def records(mesh):
    cfg, params = ckpt_lib.init_from(model_dir, mesh=mesh)
    model = runner.Model(params=params, cfg=cfg, tok=tok, mesh=mesh)
    return runner.evaluate(model, p)[0]

  one = records(shd.make_mesh((1, 1, 1), jax.devices()[:1]))
  many = records(shd.make_mesh(shape))
  assert [r["completion"] for r in one] == [r["completion"] for r in many]
  assert one == many


def test_completions_file_scores_like_the_stage(model_dir, tmp_path):
  """The stage's own completions, written in generate's format, score to
  the same numbers through config.completions_file."""
  c = _config(model_dir)
  want = evaluate.run(c, str(tmp_path / "a"))
  rows = _lines(tmp_path / "a" / "samples.jsonl")
  by_id = {}
  for r in rows:
    by_id.setdefault(r["id"], []).append(
        {"text": r["completion"], "num_tokens": r["length"],
         "finish_reason": "length" if r["truncated"] else "stop"})
  path = tmp_path / "completions.jsonl"
  path.write_text("".join(json.dumps({"id": k, "completions": v}) + "\n"
                          for k, v in by_id.items()))
  got = evaluate.run(_config(model_dir, completions_file=str(path)),
                     str(tmp_path / "b"))
  assert got == want
  # One sample short for one problem: refused, never silently n-1.
  first = next(iter(by_id))
  by_id[first] = by_id[first][:1]
  path.write_text("".join(json.dumps({"id": k, "completions": v}) + "\n"
                          for k, v in by_id.items()))
  with pytest.raises(ValueError, match="different sample counts"):
    evaluate.run(_config(model_dir, completions_file=str(path)),
                 str(tmp_path / "c"))


@pytest.mark.parametrize("arg,field,value,match", [
    ("math500", None, None, r"config.evals.math500.file: the math500 file "
     "is required"),
    ("livecodebench", None, None, r"config.evals.livecodebench.file: the "
     "livecodebench file is required"),
    ("arithmetic", "template", "chatml", "config.evals.arithmetic.template"),
    ("arithmetic", "n", 0, "n and max_new_tokens must be >= 1"),
])
def test_bad_config_names_the_field(model_dir, tmp_path, arg, field, value,
                                    match):
  c = _config(model_dir, arg)
  if field:
    e = next(iter(c.evals.values()))
    e[field] = str(tmp_path / "x.jsonl") if value == "FILE" else value
    if value == "FILE":
      (tmp_path / "x.jsonl").write_text("")
  with pytest.raises(ValueError, match=match):
    evaluate.validate(c)


def test_batch_rows_must_divide_over_devices(model_dir):
  with pytest.raises(ValueError, match="config.batch_rows=6"):
    evaluate.validate(_config(model_dir, batch_rows=6))


def test_sft_evaluators_equal_the_eval_stage_on_its_checkpoint(tmp_path):
  """config.evals in SFT runs the eval stage's runner: its last held-out
  numbers equal the eval stage's on the saved model (seed c.seed + 1)."""
  from r1jax.trainers import sft  # pylint: disable=g-import-not-at-top
  c = util.sft_config_tiny(steps=2, vocab_size=400)
  e = eval_config.eval_block("arithmetic", 2)
  e.update(template="r1_zero", prefill="", question_suffix="", task_count=4,
           max_new_tokens=4, loader_kwargs={"num_ops": 1})
  c.evals.arithmetic = e
  c.eval.batch_rows = 8
  sft.run(c, str(tmp_path / "sft"))
  rows = util.metric_rows(str(tmp_path / "sft"))
  assert "eval/arithmetic/pass@1" in rows[0]
  last = rows[2]
  ev = eval_config.get_config("arithmetic")
  ev.evals.arithmetic = e
  ev.update(init_from=str(tmp_path / "sft"), batch_rows=8, seed=c.seed + 1)
  ev.model.dtype = ev.model.param_dtype = "float32"
  got = evaluate.run(ev, str(tmp_path / "eval"))["arithmetic"]
  for k in ("pass@1", "cons@2", "length/mean", "format"):
    assert last[f"eval/arithmetic/{k}"] == pytest.approx(got[k]), k


def test_budget_beyond_the_models_context_is_an_error(model_dir, tmp_path):
  c = _config(model_dir)
  c.evals.arithmetic.max_new_tokens = 100_000
  with pytest.raises(ValueError, match=r"config.evals.arithmetic.max_new_"
                     r"tokens=100000 \+ the longest prompt .* exceed the "
                     "model's context"):
    evaluate.run(c, str(tmp_path))


def test_records_do_not_depend_on_batch_rows(model_dir):
  """Each sample has its own key, so rows per sampler call (which also
  change the batches' prompt padding) leave every record the same: why
  runinfo does not count eval.batch_rows as a result-changing field."""
  tok = tok_lib.load(model_dir)
  mesh = shd.make_mesh((8, 1, 1))
  cfg, params = ckpt_lib.init_from(model_dir, mesh=mesh)
  model = runner.Model(params=params, cfg=cfg, tok=tok, mesh=mesh)
  got = []
  for rows in (8, 24):
    c = _config(model_dir, batch_rows=rows)
    for e in c.evals.values():
      e.task_count = 12
    (name, e), = c.evals.items()
    p = evaluate.protocol(c, name, e, tok, evaluators.load_examples(e))
    got.append(runner.evaluate(model, p)[0])
  assert got[0] == got[1]


def test_codeforces_by_rating_from_completions(tmp_path):
  """Codeforces (open-r1's layout) scored through the stage from a
  completions file: programs run in the sandbox; pass@1 per rating bucket
  (1990/A rated 800: both samples right; 1990/B, unrated and without
  official tests, scored on its example: one of two; 1990/C has a checker:
  not scorable by output comparison, left out)."""
  data = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                      "testdata", "code", "codeforces.jsonl")
  fence = lambda src: f"<think> ok </think>\n```python\n{src}\n```\n"  # noqa: E731
  a = "a, b = map(int, input().split())\nprint(a + b)"
  b = "input()\nprint(max(map(int, input().split())))"
  rows = [{"id": "codeforces/1990/A", "completions": [fence(a), fence(a)]},
          {"id": "codeforces/1990/B", "completions": [fence(b),
                                                      fence("print(0)")]}]
  path = tmp_path / "completions.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  c = eval_config.get_config("codeforces")
  c.evals.codeforces.file = data
  c.evals.codeforces.template = "plain"  # the SentencePiece test tokenizer
  c.completions_file = str(path)
  c.tokenizer = util.tokenizer(str(tmp_path))
  out = evaluate.run(c, str(tmp_path / "eval"))["codeforces"]
  assert out["pass@1"] == pytest.approx(0.75)
  by = out["by_rating"]
  assert by["<1200"][0] == 1.0 and by["<1200"][2] == 1
  assert by["unrated"][0] == 0.5 and by["all"][2] == 2
  assert "1200-1399" not in by
  saved = json.load(open(tmp_path / "eval" / "eval.json"))
  assert saved["results"]["codeforces"]["by_rating"] == by
