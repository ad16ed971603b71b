"""Two `jax.distributed` processes (gloo CPU collectives, 4 devices each)
give the same SFT and GRPO metrics as one process with 8 devices, also with
host rewards (each process scores its rows) and an HF export (a collective
every process joins), write the same rejection-sampling output once (each process sampling
and writing its rows), and the same
eval records and metrics (each process scoring and writing its own rows);
the reward_model stage gives the same metrics and writes the same
reward_stats.json and HF export once, and scores eval samples the same;
the pipeline stage runs its stages
(hand-off by reference, eval after a stage) with the same metrics, and its
markers say each stage finished once."""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from r1jax.models import hf
from r1jax.trainers import evaluate, generate, grpo, pipeline, reward_model
from r1jax.trainers import sft
from tests.trainers import reward_model_test, util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# After the one-process runs, the workers get this long to finish; a
# deadlocked collective fails the test instead of hanging it.
TIMEOUT_S = 600


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _wait(procs, logs, timeout_s: float) -> None:
  deadline = time.monotonic() + timeout_s
  try:
    for p in procs:
      p.wait(timeout=max(1.0, deadline - time.monotonic()))
  except subprocess.TimeoutExpired:
    for p in procs:
      p.kill()
      p.wait()
  for p, log in zip(procs, logs):
    out = open(log).read()[-4000:]
    assert p.returncode == 0, f"{log} (rc {p.returncode}; -9: timed out, a " \
        f"deadlock?):\n{out}"


def _compare(one_dir: str, multi_dir: str, keys) -> None:
  one, multi = util.metric_rows(one_dir), util.metric_rows(multi_dir)
  assert sorted(one) == sorted(multi)
  last = max(one)
  for k in keys:
    step = 0 if k.startswith("eval/") and k not in one[last] else last
    assert multi[step][k] == pytest.approx(one[step][k], rel=1e-4,
                                           abs=1e-6), (one_dir, k)


def test_two_processes_match_one(tmp_path):
  tok = util.tokenizer(str(tmp_path))
  rl = util.rl_jsonl(str(tmp_path))
  prompts = util.rl_jsonl(str(tmp_path), 6, "prompts.jsonl")
  model_dir = util.eval_model_dir(str(tmp_path), tok)
  port = _free_port()
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
  procs = []
  for i, log in enumerate(logs):
    with open(log, "w") as f:
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "tests.trainers.multiprocess_worker",
           str(i), str(port), str(tmp_path / "multi"), tok, str(tmp_path)],
          cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT))
  # The single-process reference runs meanwhile (8 devices, same mesh).
  one = tmp_path / "one"
  sft.run(util.multiprocess_sft(tok), str(one / "sft"))
  grpo.run(util.multiprocess_grpo(tok), str(one / "grpo"))
  grpo.run(util.multiprocess_grpo_host(tok, rl), str(one / "grpo_host"))
  generate.run(util.multiprocess_generate(tok, prompts),
               str(one / "generate"))
  evaluate.run(util.multiprocess_eval(model_dir), str(one / "eval"))
  reward_model.run(reward_model_test.multiprocess_config(tok),
                   str(one / "reward_model"))
  evaluate.run(util.multiprocess_eval(model_dir,
                                      rm=str(one / "reward_model")),
               str(one / "eval_rm"))
  pipeline.run(util.multiprocess_pipeline(tok), str(one / "pipeline"))
  _wait(procs, logs, TIMEOUT_S)

  multi = tmp_path / "multi"
  _compare(str(one / "sft"), str(multi / "sft"),
           ("loss", "grad_norm", "token_accuracy"))
  _compare(str(one / "grpo"), str(multi / "grpo"),
           ("loss", "reward/total", "length/mean", "kl_k3", "grad_norm",
            "eval/pass@1", "reflection/words_mean"))
  _compare(str(one / "grpo_host"), str(multi / "grpo_host"),
           ("loss", "reward/total", "reward/accuracy", "reward/format",
            "reward/accuracy/failures", "reward/reflection", "length/mean",
            "grad_norm", "reflection/words_mean"))
  # The exported HF model loads, with the one-process export's weights.
  hf.load(str(multi / "grpo_host" / "hf"))
  want = load_file(str(one / "grpo_host" / "hf" / "model.safetensors"))
  got = load_file(str(multi / "grpo_host" / "hf" / "model.safetensors"))
  assert sorted(got) == sorted(want)
  for name, w in want.items():
    np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-7,
                               err_msg=name)
  # generate: each process wrote its shard; process 0 the same files as
  # one process (samples, kept set, report).
  assert sorted(os.listdir(multi / "generate" / "shards")) == [
      "samples.p0.jsonl", "samples.p1.jsonl"]
  gens = [json.loads(line)
          for line in open(multi / "generate" / "generations.jsonl")]
  assert len(gens) == 6 * 2
  assert sum(g["rejected_by"] is None for g in gens) == 6
  for name in ("generations.jsonl", "sft.jsonl", "filter_report.json"):
    assert (multi / "generate" / name).read_bytes() == (
        one / "generate" / name).read_bytes(), name
  # eval: each process wrote its shard; process 0 merged the same records
  # and metrics as one process.
  assert sorted(os.listdir(multi / "eval" / "evals" / "arithmetic")) == [
      "samples.p0.jsonl", "samples.p1.jsonl"]
  one_eval, multi_eval = (json.load(open(d / "eval" / "eval.json"))
                          for d in (one, multi))
  assert multi_eval["results"] == one_eval["results"]
  assert multi_eval["meta"]["processes"] == 2
  assert [json.loads(l) for l in open(multi / "eval" / "samples.jsonl")] == [
      json.loads(l) for l in open(one / "eval" / "samples.jsonl")]
  # Continuous batching (queues of 16 units over 8 slots) on two processes:
  # per-process shards, and the records of static batching on one process.
  cb = multi / "eval_continuous"
  assert sorted(os.listdir(cb / "evals" / "arithmetic")) == [
      "samples.p0.jsonl", "samples.p1.jsonl"]
  cb_eval = json.load(open(cb / "eval.json"))
  assert cb_eval["settings"]["arithmetic"]["continuous_batching"] == 16
  assert one_eval["settings"]["arithmetic"]["continuous_batching"] == 0
  assert cb_eval["results"] == one_eval["results"]
  assert [json.loads(l) for l in open(cb / "samples.jsonl")] == [
      json.loads(l) for l in open(one / "eval" / "samples.jsonl")]
  # reward_model: same metrics; process 0 wrote the stats and the export.
  _compare(str(one / "reward_model"), str(multi / "reward_model"),
           ("loss", "accuracy", "margin", "grad_norm",
            "eval/pairwise_accuracy", "eval/margin", "eval/score_mean"))
  stats = [json.load(open(d / "reward_model" / reward_model.STATS_FILE))
           for d in (one, multi)]
  assert stats[1].keys() == stats[0].keys()
  for k, v in stats[0].items():
    assert stats[1][k] == (pytest.approx(v, rel=1e-4, abs=1e-6)
                           if isinstance(v, float) else v), k
  assert json.load(open(multi / "reward_model" / "hf" /
                        reward_model.STATS_FILE)) == stats[1]
  assert not [n for n in os.listdir(multi / "reward_model")
              if n.endswith(".tmp")]
  want = load_file(str(one / "reward_model" / "hf" / "model.safetensors"))
  got = load_file(str(multi / "reward_model" / "hf" / "model.safetensors"))
  assert sorted(got) == sorted(want) and "score.weight" in got
  for name, w in want.items():
    np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-7,
                               err_msg=name)
  # eval scored by the reward model: every process scored process 0's
  # records (the RM is one program over both), the same scores as one.
  rm_one, rm_multi = (json.load(open(d / "eval_rm" / "eval.json"))[
      "results"]["arithmetic"] for d in (one, multi))
  for k in ("rm_score", "rm_score_stderr"):
    assert rm_multi[k] == pytest.approx(rm_one[k], rel=1e-4, abs=1e-5), k
  assert rm_multi["pass@1"] == one_eval["results"]["arithmetic"]["pass@1"]
  # pipeline: the same metrics per stage and the same eval; each stage's
  # marker says it finished.
  for name in ("first", "second"):
    _compare(str(one / "pipeline" / name), str(multi / "pipeline" / name),
             ("loss", "grad_norm", "token_accuracy"))
    m2 = pipeline.read_marker(str(multi / "pipeline" / name))
    assert m2["finished_id"] and m2["stage"] == "sft", m2
  # The first stage's key is its config's (the second's also follows the
  # first's finished run, which differs between the two runs).
  assert (pipeline.read_marker(str(one / "pipeline" / "first"))["key"] ==
          pipeline.read_marker(str(multi / "pipeline" / "first"))["key"])
  assert not [n for n in os.listdir(multi / "pipeline")
              if ".replaced-" in n or n.endswith(".tmp")]
  one_res, multi_res = (json.load(open(d / "pipeline" / "results.json"))
                        for d in (one, multi))
  assert multi_res["evals"] == one_res["evals"]
