"""A run knows what it is: resolved config, fingerprint, refusal to
continue a workdir with other result-changing values, conflicting inputs."""
import dataclasses
import json
import os
import subprocess

import pytest

from configs import sft as sft_config
from r1jax import runinfo
from r1jax.trainers import grpo, sft
from tests.trainers import util


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return util.tokenizer(str(tmp_path_factory.mktemp("tok")))


def _history(workdir):
  return runinfo.history(str(workdir))


def test_rerun_refuses_changed_results_resumes_same_and_force_records(
    tmp_path, tok_path):
  w = str(tmp_path / "sft")
  cfg = lambda **kw: util.sft_config_tiny(  # noqa: E731
      **{"tokenizer": tok_path, "steps": 2, **kw})
  sft.run(cfg(), w)
  rows = util.metric_rows(w)
  # A result-changing field: refused before anything runs, naming it.
  with pytest.raises(runinfo.RunMismatchError) as e:
    sft.run(cfg(**{"optim.lr": 1e-3, "seed": 1}), w)
  msg = str(e.value)
  assert "optim.lr: 0.003 -> 0.001" in msg and "seed: 0 -> 1" in msg, msg
  assert "checkpoint at step 2" in msg and w in msg, msg
  assert "--workdir=" in msg and "--config.resume=force" in msg, msg
  assert "log.every" not in msg
  assert util.metric_rows(w) == rows
  # The same config, or one that differs in fields that do not change
  # results (logging, checkpoint cadence, mesh), resumes.
  sft.run(cfg(), w)
  sft.run(cfg(**{"log.every": 2, "checkpoint.keep": 1,
                 "mesh.shape": (2, -1, 1)}), w)
  assert not _history(w)
  # force continues (here: 1 more step) and records the change.
  changed = {"optim.lr": 1e-3, "steps": 3}
  sft.run(cfg(**changed, resume="force"), w)
  (h,) = _history(w)
  assert h["changed"] == {"optim.lr": [0.003, 0.001], "steps": [2, 3]}
  assert h["resumed_from"] == "checkpoint at step 2"
  assert len(h["fingerprint"]) == 2 and h["time"] and h["code_version"]
  assert sorted(util.metric_rows(w)) == [1, 2, 3]
  # The new values are now the run's: the same command resumes silently.
  sft.run(cfg(**changed), w)
  assert len(_history(w)) == 1
  with pytest.raises(ValueError, match=r"config\.resume='again'"):
    sft.validate(cfg(resume="again"))


def test_train_file_with_a_corpus_is_an_error(tmp_path):
  path = tmp_path / "traces.jsonl"
  path.write_text('{"prompt": "1 + 1", "completion": "2"}\n')
  c = util.sft_config_tiny(**{"data.train_file": str(path)})
  with pytest.raises(ValueError, match=r"config\.data\.train_file=.*"
                     r"config\.data\.corpus='task_answers' are both set"):
    sft.validate(c)
  # The default variant is SFT on the user's file: no corpus, file required.
  c = sft_config.get_config()
  assert not c.data.corpus
  with pytest.raises(ValueError, match=r"config\.data\.train_file is "
                     "required"):
    sft.validate(c)
  c.data.train_file = str(path)
  c.data.batch_size = 8
  sft.validate(c)
  with pytest.raises(ValueError, match="known: sft, tiny"):
    sft_config.get_config("big")


def test_grpo_records_resolved_loss_and_code_version(tmp_path, tok_path):
  w = str(tmp_path / "rl")
  c = util.grpo_config(tok_path, steps=1)
  grpo.run(c, w)
  with open(os.path.join(w, "config.json")) as f:
    written = json.load(f)
  loss = dataclasses.asdict(grpo.loss_config(c))
  assert written["loss"] == dict(loss, preset="grpo")
  assert None not in written["loss"].values()
  assert written["loss"]["max_len"] == c.rl.max_new_tokens
  with open(os.path.join(w, "final_metrics.json")) as f:
    final = json.load(f)
  with open(os.path.join(w, runinfo.FINGERPRINT)) as f:
    fp = json.load(f)
  assert final["config"] == written and "loss" in final
  assert final["fingerprint"] == fp["fingerprint"]
  assert final["code_version"] == runinfo.code_version() != "unknown"


def _fp(c):
  return runinfo.fingerprint(runinfo.result_fields(runinfo.resolved(c)))


def test_fingerprint_covers_what_changes_results(tok_path):
  base = util.grpo_config(tok_path)
  same = {"loss.eps_high": 0.2,  # the preset's own value, now explicit
          "log.every": 5, "checkpoint.every": 7, "checkpoint.keep": 1,
          "mesh.shape": (2, -1, 1), "model.remat": "full",
          "rl.microbatches": 2, "eval.every": 3, "resume": "force"}
  for field, value in same.items():
    assert _fp(util.grpo_config(tok_path, **{field: value})) == _fp(base), \
        field
  for field, value in {"seed": 1, "optim.lr": 3e-4, "steps": 30,
                       "loss.eps_high": 0.28, "loss.preset": "dapo",
                       "rewards.format": 0.0, "rl.rollout_chunks": 2,
                       "eval.k": 4}.items():
    assert _fp(util.grpo_config(tok_path, **{field: value})) != _fp(base), \
        field
  # BNPO's per-micro-batch mean depends on the micro-batch count.
  bnpo = {"loss.aggregation": "local_token_mean"}
  assert (_fp(util.grpo_config(tok_path, **bnpo)) !=
          _fp(util.grpo_config(tok_path, **bnpo, **{"rl.microbatches": 2})))


def test_code_version_without_git(monkeypatch):
  def no_git(*args, **kwargs):
    raise FileNotFoundError("git")

  runinfo.code_version.cache_clear()
  monkeypatch.setattr(subprocess, "run", no_git)
  try:
    assert runinfo.code_version().startswith("r1jax ")
  finally:
    runinfo.code_version.cache_clear()


def test_fields_added_since_the_run_unset_are_not_changes(tmp_path):
  """A workdir written before a field existed resumes when the new field
  is unset ("" or an empty block) or does not change results; a new field
  set to a value is a change."""
  c = util.sft_config_tiny()
  w = str(tmp_path / "run")
  runinfo.record(c, w)
  os.makedirs(os.path.join(w, "checkpoints", "1"))
  path = os.path.join(w, runinfo.FINGERPRINT)
  fp = json.load(open(path))
  for field in ("evals", "eval.batch_rows", "eval.math_timeout_s",
                "eval.every", "data.train_file"):
    fp["fields"].pop(field, None)
  # Older fingerprints recorded an empty block as a value; the field is
  # gone from today's config: no change either.
  fp["fields"]["evals_removed"] = {}
  with open(path, "w") as f:
    json.dump(fp, f)
  assert runinfo.changes(c, w) == {}
  c2 = util.sft_config_tiny(**{"data.train_file": "x.jsonl"})
  assert runinfo.changes(c2, w) == {
      "data.train_file": ("(absent)", "x.jsonl")}


def test_a_run_from_before_the_distill_block_resumes_with_it_off(tmp_path,
                                                                 tok_path):
  """A grpo workdir written before config.distill existed (no distill
  fields in its fingerprint) resumes with the default block (teacher "",
  coef 0.0: runinfo.ADDED_OFF); turning distillation on is a change."""
  c = util.grpo_config(tok_path)
  assert (c.distill.teacher, c.distill.coef) == ("", 0.0)
  w = str(tmp_path / "rl")
  runinfo.record(c, w)
  os.makedirs(os.path.join(w, "checkpoints", "1"))
  path = os.path.join(w, runinfo.FINGERPRINT)
  fp = json.load(open(path))
  assert fp["fields"].pop("distill.coef") == 0.0
  assert fp["fields"].pop("distill.teacher") == ""
  with open(path, "w") as f:
    json.dump(fp, f)
  assert runinfo.changes(c, w) == {}
  runinfo.check([(c, w, "")])
  on = util.grpo_config(tok_path, **{"distill.coef": 1.0,
                                     "distill.teacher": "/t"})
  assert runinfo.changes(on, w) == {
      "distill.coef": ("(absent)", 1.0),
      "distill.teacher": ("(absent)", "/t")}
  # The demo nests the grpo config: matched by dotted tail.
  added_off = runinfo._added_off  # pylint: disable=protected-access
  assert added_off("grpo.distill.coef") == 0.0
  assert added_off("grpo.distill.teacher") == ""
