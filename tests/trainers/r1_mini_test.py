"""configs/r1.py:mini end to end, shortened (a few steps per stage, tiny
counts, a 1-layer model): every stage runs in order in WORKDIR/<name> and
hands off what the next one reads (the tokenizer trained by `base`, the
sampled SFT files, the models), both SFT stages start from the BASE's
params and not from an RL checkpoint, the evaluations land in one
results.json with the readable and language-consistency metrics, and a
rerun skips every finished stage. ~40 s on 2 CPU cores."""
import json
import os

import pytest

from configs import r1
from r1jax.trainers import pipeline
from tests.trainers.util import max_diff as _max_diff, params_of as _params

STAGES = ["base", "reward_model", "r1_zero", "cold_start_data",
          "cold_start", "reasoning_rl", "rejection", "general_data", "sft",
          "all_scenario_rl"]
EVALUATED = ["r1_zero", "cold_start", "reasoning_rl", "sft",
             "all_scenario_rl"]
TASK, GENERAL = "multilingual_arithmetic", "general_chat"


def short():
  """:mini with a few steps per stage. The generate stages keep every
  sample (a 10-step base answers nothing right: the filters would keep
  none), and cold_start_data writes its rows in the sampled r1_zero markup
  (an r1_chat target needs completions that close the think block)."""
  c = r1.get_config("mini")
  s = c.stages
  b = s.base
  b.steps = 10
  b.data.corpus_kwargs.num_docs = 400
  b.data.batch_size, b.data.seq_len = 8, 128
  b.model.overrides.update(dict(num_layers=1, embed_dim=32, num_heads=2,
                                num_kv_heads=1, head_dim=16, mlp_dim=64))
  for name in ("r1_zero", "reasoning_rl", "all_scenario_rl"):
    g = s[name]
    g.steps, g.rl.num_prompts, g.rl.group_size = 1, 4, 2
    g.rl.max_new_tokens = 16
    g.max_prompt_len = 96  # the 400-document corpus's tokenizer is coarser
  for name in ("cold_start_data", "rejection", "general_data"):
    p = s[name].prompts
    p.task_count, p.n, p.max_new_tokens = 4, 2, 16
    s[name].filters = ()
    s[name].batch_rows = 8
  s.cold_start_data.target.template = ""
  s.general_data.target.template = ""
  r = s.reward_model
  r.steps, r.data.batch_size, r.optim.warmup_steps = 2, 8, 0
  r.data.synthetic_kwargs.num_prompts = 64
  for name in ("cold_start", "sft"):
    t = s[name]
    t.epochs, t.steps = 0.0, 1
    t.data.batch_size, t.data.seq_len = 8, 64
    t.optim.warmup_steps = 0
  # A vanishing lr: the SFT model stays the base's, far from the RL runs'.
  s.sft.optim.lr = 1e-9
  e = c.evaluate
  for name in (TASK, GENERAL):
    e.evals[name].update(dict(task_count=4, n=2, max_new_tokens=8))
  e.batch_rows = 8
  return c


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("mini") / "w")
  c = short()
  return c, root, pipeline.run(c, root)


def _config(root, name):
  with open(os.path.join(root, name, "config.json"), encoding="utf-8") as f:
    return json.load(f)


def test_every_stage_runs_and_hands_off(chain):
  _, root, out = chain
  expected = []
  for name in STAGES:
    expected += [name] + ([f"eval/{name}"] if name in EVALUATED else [])
  assert out["ran"] == expected and out["skipped"] == []
  for name in expected:
    assert pipeline.read_marker(os.path.join(root, name))["finished_id"]
  # One tokenizer, trained by `base` with the chat markup as single pieces.
  with open(os.path.join(root, "base", "tokenizer.model"), "rb") as f:
    tok = f.read()
  for name in STAGES[1:]:
    with open(os.path.join(root, name, "tokenizer.model"), "rb") as f:
      assert f.read() == tok, name
  # The SFT stages read the files the generate stages wrote.
  assert _config(root, "cold_start")["data"]["train_file"] == os.path.join(
      root, "cold_start_data", "sft.jsonl")
  assert _config(root, "sft")["data"]["train_file"] == os.path.join(
      root, "rejection", "sft.jsonl")
  # ... and the general requests' replies after them (R1's non-reasoning
  # SFT data).
  assert _config(root, "sft")["data"]["extra_files"] == [os.path.join(
      root, "general_data", "sft.jsonl")]
  for name in ("cold_start_data", "rejection", "general_data"):
    with open(os.path.join(root, name, "sft.jsonl"), encoding="utf-8") as f:
      assert len(f.readlines()) == 8  # 4 prompts x 2, none filtered
  assert _config(root, "reasoning_rl")["init_from"] == os.path.join(
      root, "cold_start")
  # sft starts from the base, not from reasoning_rl (nor cold_start).
  base, cold, rl, sft = (_params(os.path.join(root, n)) for n in (
      "base", "cold_start", "reasoning_rl", "sft"))
  assert _max_diff(sft, base) < 1e-6
  assert _max_diff(cold, base) > 1e-4 and _max_diff(rl, base) > 1e-4
  # The last RL stage starts from sft and reads the reward model on the
  # general rows of its rollout (the first 4 prompts hold 2 of them), the
  # accuracy reward on the reasoning ones.
  last = _config(root, "all_scenario_rl")
  assert last["init_from"] == os.path.join(root, "sft")
  assert last["reward_models"]["helpfulness"]["init_from"] == os.path.join(
      root, "reward_model")
  with open(os.path.join(root, "all_scenario_rl", "metrics.jsonl")) as f:
    m = json.loads(f.readline())
  # reward/<name> is a mean over the rows in scope, reward/total over all 8
  # (2 samples of 2 general + 2 reasoning prompts): the total adds the RM
  # on 4 rows only, accuracy on the other 4, format and language on all.
  total = (4 * m["reward/helpfulness"] + 4 * m["reward/accuracy"]
           + 8 * (m["reward/format"] + m["reward/language"])) / 8
  assert m["reward/helpfulness"] != 0
  assert m["reward/total"] == pytest.approx(total, abs=1e-5)
  # R1-Zero is evaluated in its own template, the R1 stages in r1_chat.
  for name, template in (("r1_zero", "r1_zero"), ("sft", "r1_chat")):
    e = _config(root, f"eval/{name}")["evals"][TASK]
    assert e["template"] == template
  res = json.load(open(os.path.join(root, "results.json")))
  assert list(res["evals"]) == EVALUATED
  for m in res["evals"].values():
    assert m[TASK]["num_samples"] == m[GENERAL]["num_samples"] == 8
    # The helpfulness RM scores the general replies only.
    assert "rm_score" in m[GENERAL] and "rm_score" not in m[TASK]
    assert 0 <= m[TASK]["readable"] <= 1
    assert 0 <= m[TASK]["language/non_en"] <= 1


def test_rerun_skips_finished_stages(chain):
  c, root, _ = chain
  markers = {n: pipeline.read_marker(os.path.join(root, n)) for n in STAGES}
  out = pipeline.run(c, root)
  assert out["ran"] == [] and len(out["skipped"]) == (
      len(STAGES) + len(EVALUATED))
  assert markers == {n: pipeline.read_marker(os.path.join(root, n))
                     for n in STAGES}


def test_seeds_report_reads_the_chain_results(chain, tmp_path):
  """experiments/pipeline_seeds.py on the chain's own results.json and on
  a copy posing as seed 1 (its pass@1 values shifted): per-seed values
  and means come from each file, stages in the chain's order."""
  from experiments import pipeline_seeds  # pylint: disable=g-import-not-at-top
  _, root, _ = chain
  res = json.load(open(os.path.join(root, "results.json")))
  other = json.loads(json.dumps(res))
  other["config"]["seed"] = 1
  for m in other["evals"].values():
    m[TASK]["pass@1"] += 0.25
  os.makedirs(tmp_path / "s1")
  with open(tmp_path / "s1" / "results.json", "w") as f:
    json.dump(other, f)
  with pytest.raises(ValueError, match="name one with --bench"):
    pipeline_seeds.main([root, f"--out={tmp_path / 'out'}"])
  rows = pipeline_seeds.main([root, str(tmp_path / "s1"), f"--bench={TASK}",
                              f"--general={GENERAL}",
                              f"--out={tmp_path / 'out'}"])
  assert list(rows) == EVALUATED
  for name in EVALUATED:
    p = res["evals"][name][TASK]["pass@1"]
    assert rows[name]["pass@1"] == pytest.approx([p, p + 0.25])
    assert rows[name]["readable"] == [res["evals"][name][TASK]["readable"]] * 2
    g = res["evals"][name][GENERAL]
    assert rows[name]["general"] == [g["pass@1"]] * 2
    assert rows[name]["general_rm"] == [g["rm_score"]] * 2
  md = open(tmp_path / "out" / "seeds.md").read()
  assert md.startswith("Seeds (one workdir each): 0, 1.")
  assert "general pass@1" in md and "general RM score" in md
  assert os.path.getsize(tmp_path / "out" / "seeds.png") > 0
