"""The `pipeline` stage: hand-offs checked before anything runs, finished
stages skipped, a changed config rerunning its stage and every later one
(the old run moved aside, not deleted), an interrupted stage resumed in
place, `config.only`, eval after a stage, and an SFT stage that starts from
the base model's params and not from the RL checkpoint run after it."""
import json
import os

import pytest

from configs import eval as eval_config
from r1jax import stages as stages_lib
from r1jax.trainers import pipeline, pipeline_report
from tests.trainers import util


def _base():
  """Pretraining on the generated corpus; trains its tokenizer."""
  return util.sft_config_tiny(**{
      "steps": 2, "data.batch_size": 8, "data.seq_len": 64,
      "vocab_size": 400, "data.corpus_kwargs.num_docs": 100})


def _rl():
  c = util.grpo_config("", **{"steps": 2, "rl.num_prompts": 4,
                              "rl.group_size": 2, "optim.lr": 1e-3})
  c.tokenizer = ""
  c.init_from = "@base"
  return c


def _sft_from_base():
  """SFT from the base (R1's stage 3 restarts from it) at a vanishing lr:
  its params stay the base's, far from the RL run's."""
  c = _base()
  c.data.corpus_kwargs.seed = 7
  c.init_from = "@base"
  c.tokenizer = ""
  c.optim.lr = 1e-9
  c.optim.warmup_steps = 0
  c.steps = 1
  return c


def _eval():
  c = eval_config.get_config("arithmetic,n=2,max_new_tokens=4,batch_rows=8")
  c.model.dtype = c.model.param_dtype = "float32"
  c.evals.arithmetic.task_count = 4
  c.evals.arithmetic.loader_kwargs = {"num_ops": 1}
  c.evals.arithmetic.template = "plain"
  return c


def config(**stages):
  stages = stages or {"base": _base(), "rl": _rl(), "sft": _sft_from_base()}
  return pipeline.make_config(stages, _eval())


@pytest.mark.parametrize("field, value, message", [
    ("rl.init_from", "@bsae", "config.stages.rl.init_from='@bsae': a hand-off "
     "must name a stage that runs earlier: no stage 'bsae'; did you mean "
     "'base'?"),
    ("base.init_from", "@rl", "config.stages.base.init_from='@rl': a hand-off"
     " must name a stage that runs earlier: stage 'rl' runs at or after "
     "'base'"),
    ("rl.init_from", "@rl", "stage 'rl' runs at or after 'rl'"),
    ("sft.data.train_file", "@rl_x/sft.jsonl", "no stage 'rl_x'"),
])
def test_bad_hand_off_fails_before_anything_runs(tmp_path, field, value,
                                                 message):
  c = config()
  c.stages.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=None) as e:
    pipeline.run(c, str(tmp_path / "p"))
  assert message in str(e.value), str(e.value)
  assert not os.path.exists(tmp_path / "p")


def test_validate_names_fields_and_defers_pending_files():
  c = config()
  c.stages.rl.rl.group_size = 1
  with pytest.raises(ValueError, match=r"config\.stages\.rl\.rl\.group_size"):
    pipeline.validate(c)
  c = config()
  c.stages.sft.data.corpus = ""
  # Written by an earlier stage when the pipeline runs: not an error now.
  c.stages.sft.data.train_file = "@rl/samples.jsonl"
  pipeline.validate(c)
  c.stages.sft.data.train_file = "/no/such/file.jsonl"
  with pytest.raises(ValueError, match=r"config\.stages\.sft\.data\."
                     r"train_file='/no/such/file.jsonl': not found"):
    pipeline.validate(c)
  for mutate, message in (
      (lambda c: setattr(c, "order", ("base", "rl")),
       "config.stages.sft is not in config.order"),
      (lambda c: setattr(c, "order", ("base", "rl", "sft", "x")),
       "config.order: 'x' has no config.stages.x"),
      (lambda c: setattr(c, "only", "rll"), "config.only='rll': not a stage"),
      (lambda c: setattr(c, "evaluate_after", ("eval",)),
       "config.evaluate_after: 'eval' is not a stage"),
      (lambda c: setattr(c.stages.rl, "stage", "pipeline"),
       "config.stages.rl.stage='pipeline'")):
    c = config()
    mutate(c)
    with pytest.raises(ValueError) as e:
      pipeline.validate(c)
    assert message in str(e.value), str(e.value)


def test_runs_skips_reruns_changed_and_resumes(tmp_path, monkeypatch):
  root = str(tmp_path / "p")
  c = config()
  c.evaluate_after = ("rl",)
  # The stages up to one (pipeline.prefix): the whole run skips them.
  assert pipeline.run(pipeline.prefix(c, "base"), root)["ran"] == ["base"]
  assert pipeline.finished(os.path.join(root, "base"))
  out = pipeline.run(c, root)
  assert out == dict(out, ran=["rl", "eval/rl", "sft"], skipped=["base"])
  # The SFT stage started from the base, not from the RL run before it.
  base, rl, sft = (util.params_of(os.path.join(root, n))
                   for n in ("base", "rl", "sft"))
  assert util.max_diff(sft, base) < 1e-6
  assert util.max_diff(rl, base) > 1e-4
  # One results table with the evaluated stage.
  res = json.load(open(os.path.join(root, "results.json")))
  assert set(res["evals"]) == {"rl"}
  assert res["evals"]["rl"]["arithmetic"]["n"] == 2
  assert "| rl | arithmetic |" in open(os.path.join(root, "results.md")).read()

  # Again: every stage finished with the same config: nothing runs.
  markers = {n: pipeline.read_marker(os.path.join(root, n))
             for n in ("base", "rl", "sft")}
  assert pipeline.run(c, root)["ran"] == []
  assert markers["rl"] == pipeline.read_marker(os.path.join(root, "rl"))

  # The RL stage's config changes: it and everything after it rerun; the
  # old runs are moved aside, not deleted; the base is kept.
  c.stages.rl.steps = 3
  out = pipeline.run(c, root)
  assert out == dict(out, ran=["rl", "eval/rl", "sft"], skipped=["base"])
  aside = sorted(n for n in os.listdir(root) if ".replaced-" in n)
  assert [n.split(".replaced-")[0] for n in aside] == ["rl", "sft"]
  assert util.metric_rows(os.path.join(root, "rl")).keys() >= {3}
  assert markers["base"] == pipeline.read_marker(os.path.join(root, "base"))

  # config.only: that stage runs again (moved aside), nothing after it.
  c.only = "rl"
  assert pipeline.run(c, root)["ran"] == ["rl", "eval/rl"]
  # ...so the next full run reruns the stage after it.
  c.only = ""
  assert pipeline.run(c, root)["ran"] == ["sft"]

  # Killed inside a stage: the rerun resumes that stage in place (its
  # directory and state kept) and does not redo the finished ones.
  c.stages.sft.steps = 2
  real = stages_lib.module

  def killed(stage):
    m = real(stage)
    if stage != "sft":
      return m

    class Killed:
      validate = m.validate

      @staticmethod
      def run(cfg, workdir):
        open(os.path.join(workdir, "partial"), "w").close()
        raise KeyboardInterrupt

    return Killed

  monkeypatch.setattr(stages_lib, "module", killed)
  with pytest.raises(KeyboardInterrupt):
    pipeline.run(c, root)
  monkeypatch.setattr(stages_lib, "module", real)
  n_aside = len([n for n in os.listdir(root) if ".replaced-" in n])
  out = pipeline.run(c, root)
  assert out["ran"] == ["sft"] and out["skipped"] == ["base", "rl",
                                                        "eval/rl"]
  assert os.path.exists(os.path.join(root, "sft", "partial"))
  assert len([n for n in os.listdir(root) if ".replaced-" in n]) == n_aside

  # A real SIGTERM that the stage's loop catches (it saves step 1 and
  # returns): the pipeline stops there, the stage not marked finished, and
  # the same command resumes it at step 2 (it ran on to the next stage,
  # on a half-trained model, and skipped it on a rerun as finished).
  c.stages.sft.steps = 3
  util.sigterm_at(monkeypatch, 0)
  out = pipeline.run(c, root)
  assert out["interrupted"] == "sft" and out["ran"] == ["sft"], out
  assert not pipeline.read_marker(os.path.join(root, "sft"))["finished_id"]
  assert sorted(util.metric_rows(os.path.join(root, "sft"))) == [1]
  assert not os.path.exists(os.path.join(root, "sft", "final_metrics.json"))
  out = pipeline.run(c, root)
  assert out["ran"] == ["sft"] and "interrupted" not in out, out
  assert sorted(util.metric_rows(os.path.join(root, "sft"))) == [1, 2, 3]
  assert pipeline.read_marker(os.path.join(root, "sft"))["finished_id"]



def test_prefix_keeps_the_stages_up_to_one_and_their_keys():
  c = config()
  c.evaluate_after = ("base", "sft")
  c.evaluate_overrides = {"sft": {"evals": {"arithmetic": {"n": 3}}}}
  p = pipeline.prefix(c, "rl")
  assert p.order == ("base", "rl") and list(p.stages) == ["base", "rl"]
  assert p.evaluate_after == ("base",) and not p.evaluate_overrides
  assert pipeline.prefix(c, "rl", evaluations=False).evaluate_after == ()
  full = {s.name: pipeline.key(s, "x") for s in pipeline.plan(c)}
  for s in pipeline.plan(p):
    assert pipeline.key(s, "x") == full[s.name], s.name
  pipeline.validate(p)
  with pytest.raises(ValueError, match="'rll' is not a stage"):
    pipeline.prefix(c, "rll")


def test_only_needs_finished_earlier_stages(tmp_path):
  c = config()
  c.only = "rl"
  with pytest.raises(ValueError, match=r"config\.only='rl': the stages "
                     r"before it must have finished.*\['base'\]"):
    pipeline.run(c, str(tmp_path / "p"))


def test_text_metrics_readable_and_language(tmp_path):
  """Per-evaluator readable rate, CoT language consistency and reflective
  words read off an eval's samples.jsonl, against hand-counted values."""
  c = eval_config.get_config("multilingual_arithmetic,n=2")
  e = c.evals.multilingual_arithmetic
  e.task_count, e.template = 2, "r1_chat"
  e.loader_kwargs.update(dict(lang="de", num_ops=1, max_operand=5))
  german = ("ich beginne mit der zahl 3.\njetzt addiere ich 2, also 3+2=5."
            "\n</think>\n<answer>\n3+2=5. Also ist die Antwort \\boxed{5}."
            "\n</answer>")
  # Run-on and English: 0 of its words German, not readable.
  english = ("i start with the number 3. now i add 2 to it, so 3+2=5. "
             "wait, let me check: 5-2=3. </think> <answer> 5 </answer>")
  rows = [(0, german, True), (0, english, False), (1, german, False),
          (1, german, False)]
  with open(tmp_path / "samples.jsonl", "w") as f:
    for p, text, ok in rows:
      f.write(json.dumps({"eval": "multilingual_arithmetic", "problem": p,
                          "completion": text, "correct": ok}) + "\n")
  m = pipeline_report.text_metrics(c, str(tmp_path))["multilingual_arithmetic"]
  # Reflective words: problem 0's samples have 0 and 2 ("wait", "check"),
  # problem 1's 0 and 0: per-problem means 1 and 0.
  assert m == {"readable": 0.75, "language/de": 0.75,
               "language/non_en": 0.75, "pass@1/de": 0.25,
               "reflection/words_mean": 0.5, "reflection/frac_any": 0.25,
               "reflection/words_mean_stderr": 0.5}
  by_lang = pipeline_report._by_lang  # pylint: disable=protected-access
  assert by_lang(m) == "-"  # one language: pass@1 says it all
  assert by_lang({"pass@1/de": 0.25, "pass@1/zh": 0.5}) == "de 0.25 / zh 0.50"
  assert pipeline_report.text_metrics(c, str(tmp_path / "none")) == {}


def test_results_table_leaves_out_columns_no_stage_has():
  """results.md: the R1-Zero demo's stages (no language, no RM) get no
  empty language / RM / per-language columns."""
  m = {"pass@1": 0.4, "pass@1_stderr": 0.02, "format": 0.8,
       "readable": 0.0, "length/mean": 27.0, "reflection/words_mean": 0.21,
       "pass@1/en": 0.4}
  rows = {"base": {"arithmetic": m},
          "rl": {"arithmetic": dict(m, **{"pass@1": 0.85})}}
  gains = {"rl": {"arithmetic": {"vs": "base", "gain": 0.45,
                                 "stderr": 0.024, "problems": 128}}}
  head, rule, base, rl = pipeline_report.markdown(rows, gains).splitlines()
  assert head == ("| stage | benchmark | pass@1 | gain (paired s.e.) | "
                  "format | readable | mean length | reflective words |")
  assert rule == "|" + "---|" * 8
  assert base == ("| base | arithmetic | 0.400 +- 0.020 | - | 0.800 | "
                  "0.000 | 27.0 | 0.21 |")
  assert rl.startswith("| rl | arithmetic | 0.850 +- 0.020 | +0.450 "
                       "(0.024) vs base | 0.800 |")


def test_text_metrics_no_readable_rate_for_programs(tmp_path):
  """A code problem's answer is a program, never a \\boxed one: no
  `readable` rate (it read 0.000 for every code model before)."""
  c = eval_config.get_config("code_fn,n=1")
  c.evals.code_fn.task_count = 1
  with open(tmp_path / "samples.jsonl", "w") as f:
    f.write(json.dumps({
        "eval": "code_fn", "problem": 0,
        "completion": "keep the evens </think> <answer> ```python\n"
                      "def f(xs):\n  return xs\n``` </answer>"}) + "\n")
  m = pipeline_report.text_metrics(c, str(tmp_path))["code_fn"]
  assert "readable" not in m, m


def test_evaluate_overrides_per_stage():
  c = config()
  c.evaluate_after = ("base", "rl")
  c.evaluate_overrides = {"rl": {"evals": {"arithmetic": {"n": 3}}}}
  ns = {s.after: s.config.evals.arithmetic.n for s in pipeline.plan(c)
        if s.is_eval}
  assert ns == {"base": 2, "rl": 3}
  pipeline.validate(c)
  c.evaluate_overrides = {"sft": {"evals": {"arithmetic": {"n": 3}}}}
  with pytest.raises(ValueError, match=r"config\.evaluate_overrides\.sft: "
                     r"'sft' is not in config\.evaluate_after"):
    pipeline.validate(c)
