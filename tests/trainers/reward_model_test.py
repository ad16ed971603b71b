"""The reward_model stage: a 2-step run (stats = a re-scoring of the
held-out split by `load_reward_model`; the HF export scores the same in
transformers), `main` with configs/reward_model.py:tiny, exact resume after
SIGTERM, the step on 1 device == a (2, 2, 2) mesh == 2 micro-batches,
the tiny config learning, R1's defaults and config errors that name the
field."""
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import numpy as np
import pytest

from configs import reward_model as rm_config
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import pipeline
from r1jax.data import preferences as prefs
from r1jax.models import hf, reward
from r1jax.trainers import reward_model as rm
from r1jax.trainers import train_state
from tests.trainers import util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def tiny_config(tok_path: str = "", **overrides):
  """configs/reward_model.py:tiny, shrunk for tests (used by the
  multi-process test too)."""
  c = rm_config.get_config("tiny")
  c.tokenizer = tok_path
  c.data.synthetic_kwargs.num_prompts = 160
  c.data.eval_fraction = 0.2
  c.data.batch_size = 8
  c.data.seq_len = 48
  c.steps = 4
  c.checkpoint.every = -1
  c.update_from_flattened_dict(overrides)
  return c


def multiprocess_config(tok_path: str):
  """For tests/trainers/multiprocess_test.py: a (2, 2, 2) mesh, 2 steps of
  2 micro-batches, held-out scoring, an HF export (gathers)."""
  return tiny_config(tok_path, **{
      "mesh.shape": (2, 2, 2), "steps": 2, "data.microbatches": 2,
      "checkpoint.export_hf": True})


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return util.tokenizer(str(tmp_path_factory.mktemp("tok")))


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory, tok_path):
  """(config, workdir, last metrics) of a 2-step run with an HF export."""
  c = tiny_config(tok_path, steps=2, **{"checkpoint.export_hf": True})
  workdir = str(tmp_path_factory.mktemp("two_steps") / "rm")
  return c, workdir, rm.run(c, workdir)


def test_two_steps_stats_and_hf_export(two_steps, tok_path):
  c, workdir, last = two_steps
  rows = util.metric_rows(workdir)
  assert sorted(rows) == [0, 1, 2]
  assert {"eval/pairwise_accuracy", "eval/margin", "eval/loss"} <= set(
      rows[2]) and {"loss", "accuracy", "margin", "grad_norm"} <= set(rows[2])
  assert last["eval/pairwise_accuracy"] == rows[2]["eval/pairwise_accuracy"]
  stats = json.load(open(os.path.join(workdir, rm.STATS_FILE)))
  # Independent re-scoring: the loaded model on the held-out responses,
  # one sequence at a time, unpadded.
  cfg, params, loaded = rm.load_reward_model(workdir)
  assert loaded == stats
  _, held = prefs.split(prefs.synthetic(**dict(c.data.synthetic_kwargs)),
                        c.data.eval_fraction, seed=c.data.seed)
  tok = tok_lib.load(tok_path)
  ex, _ = prefs.encode(held, tok, max_len=c.data.seq_len)
  seqs = [e[k] for e in ex for k in ("chosen", "rejected")]
  r = np.array([float(reward.scores(params, cfg, s[None],
                                    np.ones((1, len(s)), np.int32))[0])
                for s in seqs])
  assert stats["count"] == len(seqs) == 2 * len(held)
  np.testing.assert_allclose([stats["mean"], stats["std"]],
                             [r.mean(), r.std()], rtol=1e-4, atol=1e-6)
  acc = np.mean(r[0::2] > r[1::2])
  assert rows[2]["eval/pairwise_accuracy"] == pytest.approx(acc)
  # The HF export: the same params (and the stats beside them), and
  # transformers' sequence classifier gives the same scores.
  hf_dir = os.path.join(workdir, "hf")
  hcfg, hparams, hstats = rm.load_reward_model(hf_dir)
  assert hstats == stats and hcfg.num_layers == cfg.num_layers
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(hparams)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  transformers = pytest.importorskip("transformers")
  torch = pytest.importorskip("torch")
  model = transformers.AutoModelForSequenceClassification.from_pretrained(
      hf_dir).eval()
  batch = np.full((4, c.data.seq_len), tok.pad_id, np.int64)
  for i, s in enumerate(seqs[:4]):
    batch[i, :len(s)] = s
  with torch.no_grad():
    got = model(input_ids=torch.tensor(batch),
                attention_mask=torch.tensor(batch != tok.pad_id)).logits
  np.testing.assert_allclose(got[:, 0].numpy(), r[:4], rtol=1e-4, atol=1e-4)


def test_init_from_a_policy_or_a_reward_model(tmp_path, tok_path,
                                             two_steps):
  """A causal LM (HF dir) keeps its body and gets a fresh score head; a
  reward_model workdir and its HF export continue as they are."""
  mesh = shd.make_mesh((2, 2, 2))
  vocab = tok_lib.load(tok_path).vocab_size
  policy_dir = util.eval_model_dir(str(tmp_path), tok_path)
  c = tiny_config(tok_path, init_from=policy_dir)
  rm.validate(c)
  cfg, params = rm.build_model(c, mesh, shd.DEFAULT_RULES, vocab)
  _, policy = hf.load(policy_dir)
  assert set(params) == set(policy) - {"lm_head"} | {"score"}
  for k in ("embedding", "layers", "final_norm"):
    for a, b in zip(jax.tree.leaves(params[k]), jax.tree.leaves(policy[k])):
      np.testing.assert_array_equal(a, b)
  assert params["score"].shape == (cfg.embed_dim,)
  assert params["score"].sharding.spec == shd.spec_for(
      (cfg.embed_dim,), ("embed",), shd.DEFAULT_RULES, mesh)
  _, workdir, _ = two_steps
  _, want, _ = rm.load_reward_model(workdir)
  for src in (workdir, os.path.join(workdir, "hf")):
    _, got = rm.build_model(tiny_config(tok_path, init_from=src), mesh,
                            shd.DEFAULT_RULES, vocab)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  with pytest.raises(ValueError, match="a causal LM, not a reward model"):
    rm.load_reward_model(policy_dir)


def test_pointwise_from_a_pku_saferlhf_layout_file(tmp_path, tok_path):
  """configs/reward_model.py:pointwise's columns (response_{i},
  is_response_{i}_safe) on a file of generated labelled responses."""
  labelled = prefs.synthetic(num_prompts=80, pairwise=False)
  path = tmp_path / "safety.jsonl"
  with open(path, "w") as f:
    for good, bad in zip(labelled[0::2], labelled[1::2]):
      f.write(json.dumps({"prompt": good.prompt, "response_0": bad.response,
                          "response_1": good.response,
                          "is_response_0_safe": False,
                          "is_response_1_safe": True}) + "\n")
  c = tiny_config(tok_path, objective="pointwise", steps=1, **{
      "data.synthetic": "", "data.train_file": str(path),
      "data.response_field": "response_{i}",
      "data.label_field": "is_response_{i}_safe"})
  workdir = str(tmp_path / "rm")
  rm.run(c, workdir)
  rows = util.metric_rows(workdir)
  assert {"eval/accuracy", "eval/auc", "eval/loss"} <= set(rows[1])
  assert rows[1]["rows"] == c.data.batch_size and "margin" not in rows[1]
  stats = json.load(open(os.path.join(workdir, rm.STATS_FILE)))
  assert stats["objective"] == "pointwise"
  assert stats["count"] == stats["data/held_out_examples"]


def test_main_tiny_config(tmp_path):
  """`python -m r1jax.main --config=configs/reward_model.py:tiny` (its own
  SentencePiece tokenizer), shortened."""
  workdir = str(tmp_path / "rm")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  r = subprocess.run(
      [sys.executable, "-m", "r1jax.main",
       "--config=configs/reward_model.py:tiny", f"--workdir={workdir}",
       "--config.steps=2", "--config.data.synthetic_kwargs.num_prompts=100",
       "--config.data.batch_size=8", "--config.vocab_size=300"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  assert os.path.exists(os.path.join(workdir, "tokenizer.model"))
  stats = json.load(open(os.path.join(workdir, rm.STATS_FILE)))
  assert stats["split"] == "held_out" and stats["std"] > 0
  assert sorted(util.metric_rows(workdir)) == [0, 1, 2]


def test_sigterm_then_resume_equals_uninterrupted(tmp_path, tok_path,
                                                  monkeypatch):
  cfg = lambda: tiny_config(tok_path, **{"eval.every": 2})  # noqa: E731
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  rm.run(cfg(), whole)
  util.sigterm_at(monkeypatch, 1)
  rm.run(cfg(), parts)
  assert sorted(util.metric_rows(parts)) == [0, 1, 2]
  assert not os.path.exists(os.path.join(parts, rm.STATS_FILE))
  rm.run(cfg(), parts)  # resumes at step 2
  a, b = util.metric_rows(whole), util.metric_rows(parts)
  assert sorted(a) == sorted(b) == [0, 1, 2, 3, 4]
  for step in a:
    assert a[step].keys() == b[step].keys()
    for k, v in a[step].items():
      assert b[step][k] == pytest.approx(v, rel=1e-6, abs=1e-9), (step, k)
  assert json.load(open(os.path.join(parts, rm.STATS_FILE))) == json.load(
      open(os.path.join(whole, rm.STATS_FILE)))


def _steps(c, tok, mesh, microbatches, steps=2):
  """Metrics and params after `steps` train steps on `mesh`."""
  rules = shd.DEFAULT_RULES
  pairwise = c.objective == "pairwise"
  train, _ = rm.records(c)
  ex, _ = prefs.encode(train, tok, max_len=c.data.seq_len)
  data = prefs.Batches(ex, batch_size=c.data.batch_size,
                       seq_len=c.data.seq_len, pad_id=tok.pad_id)
  cfg, params = rm.build_model(c, mesh, rules, tok.vocab_size)
  tx, _ = train_state.make_optimizer(c.optim, 10)
  state = train_state.init_state(params, tx)
  step = jax.jit(rm.make_train_step(cfg, tx, pairwise=pairwise,
                                    microbatches=microbatches,
                                    center_coef=0.01 if pairwise else 0.0))
  out = []
  for s in range(steps):
    batch = pipeline.to_global(data.host_batch(s), mesh, rules,
                               axes=rm.BATCH_AXES)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      state, m = step(state, batch)
    out.append({k: float(v) for k, v in jax.device_get(m).items()})
  return out, jax.device_get(state["params"])


@pytest.mark.parametrize("objective", ["pairwise", "pointwise"])
def test_one_device_equals_mesh_and_microbatches(objective, tok_path):
  c = tiny_config(tok_path, objective=objective,
                  **{"loss.center_coef": 0.01 if objective == "pairwise"
                     else 0.0})
  tok = tok_lib.load(tok_path)
  one, p1 = _steps(c, tok, shd.make_mesh((1, 1, 1), jax.devices()[:1]), 1)
  assert one[0]["rows"] == c.data.batch_size
  for mesh, micro in ((shd.make_mesh((2, 2, 2)), 1),
                      (shd.make_mesh((1, 1, 1), jax.devices()[:1]), 2)):
    got, p = _steps(c, tok, mesh, micro)
    for a, b in zip(one, got):
      for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k
    for x, y in zip(jax.tree.leaves(p1), jax.tree.leaves(p)):
      np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_tiny_config_learns(tmp_path):
  """configs/reward_model.py:tiny (its own tokenizer), shortened to 100
  updates of 32 pairs: held-out pairwise accuracy well above chance
  (measured 0.70; 0.82 after the config's 600 updates of 64)."""
  c = rm_config.get_config("tiny")
  c.steps, c.data.batch_size, c.checkpoint.every = 100, 32, -1
  last = rm.run(c, str(tmp_path / "rm"))
  assert last["eval/pairwise_accuracy"] >= 0.65


def test_held_out_metrics_vs_brute_force():
  rng = np.random.default_rng(0)
  r = rng.integers(-3, 4, size=(40, 2)).astype(np.float64)  # many ties
  examples = [{"margin": m, "label": int(l)} for m, l in zip(
      rng.uniform(0, 1, 40), rng.integers(0, 2, 40))]
  got = rm.held_out_metrics(r, examples, pairwise=True)
  m = np.array([e["margin"] for e in examples])
  d = r[:, 0] - r[:, 1]
  assert got["pairwise_accuracy"] == np.mean(d > 0)
  assert got["loss"] == pytest.approx(np.mean(np.log1p(np.exp(-(d - m)))))
  assert got["score_std"] == pytest.approx(r.std())
  y = np.array([e["label"] for e in examples])
  s = r[:, 0]
  pairs = [(a > b) + 0.5 * (a == b) for a in s[y == 1] for b in s[y == 0]]
  got = rm.held_out_metrics(s, examples, pairwise=False)
  assert got["auc"] == pytest.approx(np.mean(pairs))
  assert got["accuracy"] == np.mean((s > 0) == (y == 1))
  p = 1 / (1 + np.exp(-s))
  assert got["loss"] == pytest.approx(
      -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
  assert np.isnan(rm.auc([1.0, 2.0], [True, True]))


def test_r1_defaults_and_units():
  """R1's helpfulness RM [R1v2 §3.1]: 256 PAIRS per optimizer update, lr
  6e-6 per update, 1 epoch: 66k pairs -> ceil(66000 / 256) = 258 updates.
  The safety RM counts labelled responses instead."""
  c = rm_config.get_config()
  assert (c.objective, c.data.batch_size, c.optim.lr, c.epochs) == (
      "pairwise", 256, 6e-6, 1.0)
  pairs = prefs.Batches([{"chosen": [1], "rejected": [2]}] * 66000,
                        batch_size=c.data.batch_size, seq_len=8)
  assert rm.total_steps(c, pairs) == 258
  s = rm_config.get_config("pointwise")
  assert (s.objective, s.data.response_field, s.data.label_field) == (
      "pointwise", "response_{i}", "is_response_{i}_safe")
  with pytest.raises(ValueError, match="unknown variant"):
    rm_config.get_config("listwise")


@pytest.mark.parametrize("override, field", [
    ({"objective": "listwise"}, "config.objective"),
    ({"data.synthetic": ""}, "config.data.train_file"),
    ({"data.train_file": "x.jsonl"}, "config.data.train_file"),
    ({"data.synthetic": "chess"}, "config.data.synthetic"),
    ({"data.template": "fancy"}, "config.data.template"),
    ({"data.batch_size": 12}, "config.data.batch_size"),
    ({"data.microbatches": 3}, "config.data.microbatches"),
    ({"data.eval_fraction": 1.0}, "config.data.eval_fraction"),
    ({"loss.center_coef": -1.0}, "config.loss.center_coef"),
    ({"objective": "pointwise", "loss.center_coef": 0.1},
     "config.loss.margin"),
    ({"loss.margin": "gap"}, "config.loss.margin"),
    ({"data.response_field": "response_{i}"}, "config.data.response_field"),
    ({"eval.batch_size": 12}, "config.eval.batch_size"),
    ({"steps": 0}, "config.steps"),
    ({"init_from": "/nonexistent"}, "config.init_from"),
    ({"model.preset": "gpt5"}, "config.model.preset"),
])
def test_config_errors_name_the_field(override, field):
  with pytest.raises(ValueError, match=field.replace(".", r"\.")):
    rm.validate(tiny_config(**override))


def test_rl_reads_the_rm_where_the_stage_trained_it(two_steps):
  """The RM inside RL (reward_models.load -> model_rewards) scores a
  rollout as the stage scores (prompt, response) text: the stage appends
  EOS to every response, so a completion stopped by `</answer>` (R1-Zero's
  stop token) gets one, and one that ended in EOS keeps its one. Before,
  the RM read such completions at `</answer>`, a position it never
  trained on (the RM demo's RL then lowered the rule-checked accuracy)."""
  # pylint: disable=g-import-not-at-top
  from configs import r1_zero
  from r1jax import configlib
  from r1jax.data import templates
  from r1jax.rewards.device import model_rewards, vocab
  from r1jax.sampling import left_pad
  from r1jax.trainers import reward_models
  c, workdir, _ = two_steps
  tok = tok_lib.load(workdir)
  g = r1_zero.get_config()
  configlib.add_reward_model(g, "rm", weight=1.0, span="full")
  g.reward_models.rm.init_from = workdir
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  specs, params = reward_models.load(g, mesh, shd.DEFAULT_RULES, tok, 40)
  (spec,) = specs
  assert spec.eos_id == tok.eos_id is not None
  # Reference: the stage's own encoding and scoring, normalised.
  prompter = templates.make_prompter(c.data.template, tok)
  prompt = "Compute 2 + 3."
  texts = [" <think> 2+3=5 </think> <answer> 5 </answer>",
           " <think> 2+3=6 </think> <answer> 6 </answer>"]
  rows = [prefs.encode_one(tok, prompt, t, prompter=prompter, max_len=64)
          for t in texts]
  ids, seg = left_pad([r.tolist() for r in rows], tok.pad_id, 40)
  raw = np.asarray(reward.scores(params["rm"], spec.cfg, ids, seg))
  stats = rm.read_stats(workdir)
  want = (raw - stats["mean"]) / stats["std"]
  # The rollout: the prompt as RL encodes it; completion 0 stopped on
  # </answer> (no EOS), completion 1 on EOS.
  ptok, pmask = left_pad(
      [tok_lib.encode_prompt(tok, prompter.render(prompt))], tok.pad_id, 16)
  comp = [tok.encode(texts[0]), tok.encode(texts[1]) + [tok.eos_id]]
  toks = np.full((2, 24), tok.pad_id, np.int32)  # real tokens first
  mask = np.zeros((2, 24), np.int32)
  for i, ids_ in enumerate(comp):
    toks[i, :len(ids_)], mask[i, :len(ids_)] = ids_, 1
  tags = vocab.Tags.from_encode(tok.encode)
  got = np.asarray(model_rewards.model_reward(
      params["rm"], spec, ptok, pmask, toks, mask, 2, tags))
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_eval_rm_score_reads_prompt_and_summary_on_a_mesh(two_steps):
  """`eval`'s rm_score (evaluation/rm_score.py) on an 8-device mesh equals
  the stage's own scoring of (the prompt as the evaluated model saw it,
  the text after </think>, EOS), one sequence at a time and normalised;
  the reasoning does not change it; per-problem means, then the mean."""
  # pylint: disable=g-import-not-at-top
  from r1jax.data import templates
  from r1jax.evaluation import rm_score, runner
  from r1jax.sampling import strategies
  c, workdir, _ = two_steps
  tok = tok_lib.load(workdir)
  prompter = templates.make_prompter("r1_zero", tok)
  examples = [{"id": "a", "prompt": "Compute 2 + 3."},
              {"id": "b", "prompt": "Compute 4 * 2."}]
  p = runner.Protocol(name="x", benchmark="x", examples=examples, n=2,
                      prompter=prompter, sampling=strategies.Sampling(),
                      max_new_tokens=24, batch_rows=8)
  comps = [" <think> 2+3=5 </think> <answer> 5 </answer>",
           " <think> 2+3=5. 5=5 </think> <answer> 5 </answer>",
           " <think> 4*2=8 </think> <answer> 8 </answer>",
           " <think> 4*2=9 </think> <answer> 9 </answer>"]
  recs = [{"problem": i // 2, "sample": i % 2, "completion": t}
          for i, t in enumerate(comps)]
  mesh = shd.make_mesh((8, 1, 1))
  got = rm_score.score(workdir, recs, p, tok, mesh, shd.DEFAULT_RULES,
                       span="summary", batch_rows=8, max_len=400)
  cfg, params, stats = rm.load_reward_model(workdir)
  want = []
  for r in recs:
    q = tok_lib.encode_prompt(tok, prompter.render(
        examples[r["problem"]]["prompt"]))
    s = tok.encode(r["completion"].split("</think>")[1], add_eos=True)
    ids = np.asarray([q + s], np.int32)
    assert ids.shape[1] < 400  # nothing truncated
    raw = float(reward.scores(params, cfg, ids, np.ones_like(ids))[0])
    want.append((raw - stats["mean"]) / stats["std"])
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  assert got[0] == pytest.approx(got[1], abs=1e-5)  # same summary
  full = rm_score.score(workdir, recs, p, tok, mesh, shd.DEFAULT_RULES,
                        span="full", batch_rows=8, max_len=400)
  assert abs(full[0] - full[1]) > 1e-4  # the reasoning is read now
  m = rm_score.metrics(recs, got)
  per = [np.mean(want[:2]), np.mean(want[2:])]
  assert m["rm_score"] == pytest.approx(np.mean(per), abs=1e-5)
  assert m["rm_score_stderr"] == pytest.approx(
      np.std(per, ddof=1) / np.sqrt(2), abs=1e-5)
