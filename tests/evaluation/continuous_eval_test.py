"""The eval stage with continuous batching: the same records as static
batches at the same seed (8 devices, queues longer than the slots, a short
last queue), and a rerun after an interruption redoes only the unfinished
queues."""
import json
import os

from r1jax.evaluation import runner
from r1jax.trainers import evaluate
# pylint: disable=protected-access,redefined-outer-name,unused-import
from tests.trainers.evaluate_test import _config, model_dir


def _lines(path):
  return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_continuous_equals_static_and_resumes(model_dir, tmp_path):
  def config(queue):
    c = _config(model_dir)
    for e in c.evals.values():
      e.task_count = 12  # 24 units: queues of 10, 10 and 4 (padded)
      e.max_new_tokens = 12
      e.continuous_batching = queue
    return c

  want = evaluate.run(config(0), str(tmp_path / "static"))
  c = config(10)
  got = evaluate.run(c, str(tmp_path / "cont"))
  assert got == want
  rows = _lines(tmp_path / "cont" / "samples.jsonl")
  assert rows == _lines(tmp_path / "static" / "samples.jsonl")
  assert len(rows) == 24
  settings = json.load(open(tmp_path / "cont" / "eval.json"))["settings"]
  assert settings["arithmetic"]["continuous_batching"] == 10

  # Interrupted after the first queue, the second cut mid-line.
  path = runner.shard_path(str(tmp_path / "cont" / "evals" / "arithmetic"), 0)
  lines = open(path, encoding="utf-8").readlines()
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(lines[:10] + [lines[10][:20]])
  for name in ("eval.json", "samples.jsonl"):
    os.remove(tmp_path / "cont" / name)
  calls = []
  orig = runner._sample_queue
  try:
    runner._sample_queue = lambda *a, **k: calls.append(1) or orig(*a, **k)
    again = evaluate.run(c, str(tmp_path / "cont"))
  finally:
    runner._sample_queue = orig
  assert len(calls) == 2  # the finished queue is not redone
  assert again == want
  assert _lines(tmp_path / "cont" / "samples.jsonl") == rows
