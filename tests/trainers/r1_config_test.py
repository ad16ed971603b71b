"""configs/r1.py: the DeepSeek-R1 pipeline carries the paper's numbers in
r1jax's units (R1_FACTS.md sections 2-3, restated here independently of
the config), SFT restarts from the base model, and every data slot left
empty fails validation naming its field as config.stages.<name>...."""
import json
import os
import re
import shutil
import types

import pytest

from configs import r1
from r1jax import stages as stages_lib
from r1jax.data import templates
from r1jax.trainers import grpo, pipeline, sft, train_state
from tests.trainers import util

ORDER = ("cold_start", "reasoning_rl", "rejection", "sft", "all_scenario_rl")

# Data slots in the order the pipeline validates them: (field, file kind).
SLOTS = (
    ("stages.cold_start.data.train_file", "sft"),
    ("evaluate.evals.aime2024.file", "aime"),
    ("stages.reasoning_rl.data.train_file", "rl"),
    ("stages.rejection.prompts.file", "rl"),
    ("stages.rejection.decontaminate.aime2024", "aime"),
    ("stages.all_scenario_rl.data.train_file", "all"),
    ("stages.all_scenario_rl.reward_models.helpfulness.init_from", "rm"),
    ("stages.all_scenario_rl.reward_models.safety.init_from", "rm"),
)
# Slots whose stage's validate reaches them only after its init_from, a
# hand-off not written yet: pipeline.validate leaves them to the stage's
# start (test_pipeline_validate_names_every_slot_before_running).
CHECKED_LATE = {"stages.rejection.decontaminate.aime2024",
            "stages.all_scenario_rl.reward_models.helpfulness.init_from",
            "stages.all_scenario_rl.reward_models.safety.init_from"}


def _updates_per_rollout(c):
  return c.rl.updates_per_batch * c.rl.minibatches


def _write_jsonl(path, rows):
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
  return path


def _reward_model_dir(root, tok_path):
  """A random HF LlamaForSequenceClassification (one label) with its
  reward_stats.json, as configs/reward_model.py exports one."""
  d = os.path.join(root, "rm")
  if not os.path.exists(os.path.join(d, "config.json")):
    import transformers  # pylint: disable=g-import-not-at-top
    from tests.models import hf_refs  # pylint: disable=g-import-not-at-top
    cfg = transformers.LlamaConfig(**{**hf_refs.CASES["llama_tied"][1],
                                      "vocab_size": 320}, num_labels=1,
                                   pad_token_id=0)
    transformers.LlamaForSequenceClassification(cfg).save_pretrained(d)
    shutil.copy(tok_path, os.path.join(d, "tokenizer.model"))
    with open(os.path.join(d, "reward_stats.json"), "w") as f:
      json.dump({"mean": 0.0, "std": 1.0}, f)
  return d


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """Small real files for every slot, a tiny HF base model, and a stand-in
  pipeline workdir whose earlier stages' outputs exist."""
  root = str(tmp_path_factory.mktemp("r1"))
  tok = util.tokenizer(root)
  base = util.eval_model_dir(root, tok)
  rl = [{"prompt": "What is 12 + 30?", "answer": "42", "lang": "en"},
        {"prompt": "Compute 7 * 6.", "answer": "42", "lang": "en"}]
  general = [{"prompt": "Write a haiku about rain.", "answer": "",
              "source": "general"}]
  out = {
      "sft": _write_jsonl(os.path.join(root, "cold_start.jsonl"), [
          {"prompt": templates.r1_chat("What is 12 + 30?"),
           "completion": "12 + 30 = 42.\n</think>\n<answer>\nThe sum is "
                         "\\boxed{42}.\n</answer>"}]),
      "rl": _write_jsonl(os.path.join(root, "reasoning.jsonl"), rl),
      "all": _write_jsonl(os.path.join(root, "all.jsonl"), [
          dict(r, source="reasoning") for r in rl] + general),
      "aime": _write_jsonl(os.path.join(root, "aime.jsonl"), [
          {"id": "2024-I-1", "problem": "Find 6 * 7.", "answer": "42"}]),
      "rm": _reward_model_dir(root, tok),
      "base": base,
  }
  # WORKDIR of a pipeline whose model stages left a model (the tiny base
  # stands in for each) and whose rejection stage wrote sft.jsonl.
  work = os.path.join(root, "work")
  for name in ("cold_start", "reasoning_rl", "sft", "all_scenario_rl"):
    shutil.copytree(base, os.path.join(work, name))
  os.makedirs(os.path.join(work, "rejection"))
  shutil.copy(out["sft"], os.path.join(work, "rejection", "sft.jsonl"))
  out["work"] = work
  return out


def _filled(files, skip=()):
  c = r1.get_config("qwen2.5-7b")
  c.base_model = files["base"]
  c.update_from_flattened_dict({field: files[kind] for field, kind in SLOTS
                                if field not in skip})
  return c


def _validate_in(c, workdir):
  """pipeline.validate, with the hand-offs resolved against a workdir whose
  earlier stages' outputs exist, so every stage validates in full."""
  pipeline.validate(c)
  for step in pipeline.plan(c):
    try:
      stages_lib.module(step.config.stage).validate(
          pipeline.resolve(step.config, workdir))
    except ValueError as e:
      raise ValueError(re.sub(r"\bconfig\.", step.field + ".", str(e))) from e


def test_order_and_hand_offs():
  c = r1.get_config()
  assert c.stage == "pipeline" and tuple(c.order) == ORDER
  assert tuple(c.evaluate_after) == ("cold_start", "reasoning_rl", "sft",
                                     "all_scenario_rl")
  s = c.stages
  assert [s[n].stage for n in ORDER] == ["sft", "grpo", "generate", "sft",
                                         "grpo"]
  assert s.reasoning_rl.init_from == "@cold_start"
  assert s.rejection.init_from == "@reasoning_rl"
  assert s.sft.data.train_file == "@rejection/sft.jsonl"
  assert s.all_scenario_rl.init_from == "@sft"
  with pytest.raises(ValueError, match="unknown variant 'tiny'"):
    r1.get_config("tiny")


def test_sft_restarts_from_the_base_model():
  c = r1.get_config()
  s = c.stages
  # [R1v2 B.4.2]: the SFT stage fine-tunes the base, not the RL checkpoint.
  assert s.sft.init_from == s.cold_start.init_from == c.base_model
  assert not s.sft.init_from.startswith(pipeline.REF)
  # One field: a command-line override of either sets both, also locked
  # (python -m r1jax.main locks the config).
  c.lock()
  c.update_from_flattened_dict({"base_model": "/ckpt/Qwen2.5-7B"})
  assert s.sft.init_from == s.cold_start.init_from == "/ckpt/Qwen2.5-7B"
  s.cold_start.init_from = "/ckpt/other"
  assert s.sft.init_from == "/ckpt/other"


def test_reasoning_rl_paper_settings():
  c = r1.get_config().stages.reasoning_rl
  loss = grpo.loss_config(c)
  assert (loss.eps_low, loss.eps_high) == (10.0, 10.0)  # [R1v2 3.2.1]
  assert loss.beta == 0.001 and loss.kl_estimator == "k3"  # R1-Zero's
  assert c.rl.temperature == 1.0
  # R1-Zero's batch [R1v2 2.1]: 16 optimizer updates per rollout of 8,192
  # outputs, each update 32 questions x 16 = 512 samples, 1 epoch.
  assert c.rl.group_size == 16 and c.rl.updates_per_batch == 1
  assert _updates_per_rollout(c) == 16
  assert c.rl.num_prompts * c.rl.group_size == 8192
  assert c.rl.num_prompts * c.rl.group_size // _updates_per_rollout(c) == 512
  assert c.rl.ref_update_every == 400  # optimizer updates
  assert c.optim.lr == 3e-6 and c.optim.schedule == "constant"
  # accuracy + format + language consistency, added directly.
  weighted = {k: v for k, v in c.rewards.items() if v}
  assert weighted == {"accuracy": 1.0, "format": 1.0, "language": 1.0}
  assert all(not s.sources and s.start_step == 0
             for s in c.reward_scope.values())
  assert c.rl.host_rewards and c.data.train_file == "" and not c.data.task


def test_rejection_keeps_correct_readable_samples():
  c = r1.get_config().stages.rejection
  for f in ("correct", "language", "long_paragraph", "code_block"):
    assert f in c.filters  # [R1v1 2.3.3; R1v2 B.3.3]
  assert c.prompts.benchmark == "file" and c.prompts.file == ""


def test_sft_paper_settings_and_units():
  c = r1.get_config().stages.sft
  # [R1v2 B.4.2]: 2 epochs, lr 5e-6, batch 64 (packed rows of 32,768
  # tokens per OPTIMIZER UPDATE), cosine decay to 0.1x.
  assert c.epochs == 2.0
  assert (c.data.batch_size, c.data.seq_len) == (64, 32768)
  assert c.data.batch_size % c.data.microbatches == 0  # memory only
  assert (c.optim.lr, c.optim.schedule, c.optim.final_lr_fraction) == (
      5e-6, "cosine", 0.1)
  # Epochs become optimizer updates from the data: 2 x batches per epoch.
  assert sft.total_steps(c, types.SimpleNamespace(
      num_batches_per_epoch=7)) == 14
  _, sched = train_state.make_optimizer(c.optim, 14)
  assert float(sched(0)) == pytest.approx(5e-6)
  assert float(sched(14)) == pytest.approx(5e-7)
  assert c.data.extra_files == ()  # the non-reasoning data's slot


def test_all_scenario_rl_paper_settings_and_units():
  c = r1.get_config().stages.all_scenario_rl
  assert c.rl.temperature == 0.7  # [R1v2 3.2.2]
  # config.steps counts rollouts; one rollout is one optimizer update of
  # 32 questions x 16 here, so 1,700 rollouts = 1,700 updates (steps).
  per = _updates_per_rollout(c)
  assert per == 1
  assert c.rl.num_prompts * c.rl.group_size // per == 512
  assert c.steps * per == 1700
  assert c.rl.ref_update_every == 400
  assert grpo.loss_config(c).eps_high == 10.0
  # Preference rewards only in the last 400 steps, on general prompts;
  # rule rewards on reasoning prompts; format and language everywhere.
  for name, span in (("helpfulness", "summary"), ("safety", "full")):
    assert c.rewards[name] > 0
    assert c.reward_models[name].span == span  # [R1v2 3.1]
    assert c.reward_models[name].init_from == ""
    scope = c.reward_scope[name]
    assert scope.sources == "general"
    assert scope.start_step * per == 1300
    assert c.steps * per - scope.start_step * per == 400
  assert c.reward_scope.accuracy.sources == "reasoning"
  assert c.rewards.language == 1.0 and c.reward_scope.language.sources == ""
  assert c.rewards.format == 1.0 and c.reward_scope.format.sources == ""


def test_evaluation_protocol():
  e = r1.get_config().evaluate
  assert e.stage == "eval"
  a = e.evals.aime2024
  # [R1v2 D.1]: T 0.6, top-p 0.95, 64 samples per AIME problem.
  assert (a.temperature, a.top_p, a.n) == (0.6, 0.95, 64)
  assert a.max_new_tokens == 32768 and a.file == ""


def test_empty_config_names_the_first_slot():
  with pytest.raises(ValueError, match=r"^config\.stages\.cold_start\.data"
                     r"\.train_file is required"):
    pipeline.validate(r1.get_config())


def test_filled_slots_validate(files):
  c = _filled(files)
  pipeline.validate(c)
  _validate_in(c, files["work"])
  for step in pipeline.plan(c):  # the stages' keys (result fields) resolve
    assert pipeline.key(step, "")


@pytest.mark.parametrize("field", [f for f, _ in SLOTS])
def test_an_empty_slot_is_named(files, field):
  c = _filled(files)
  c.update_from_flattened_dict({field: ""})
  with pytest.raises(ValueError) as e:
    _validate_in(c, files["work"])
  assert f"config.{field}" in str(e.value), str(e.value)


@pytest.mark.parametrize("field", sorted(CHECKED_LATE))
def test_pipeline_validate_names_every_slot_before_running(files, field):
  c = _filled(files)
  c.update_from_flattened_dict({field: ""})
  with pytest.raises(ValueError, match=re.escape(f"config.{field}")):
    pipeline.validate(c)


def test_sft_reads_the_non_reasoning_file(files):
  c = _filled(files)
  c.stages.sft.data.extra_files = ("/no/such/non_reasoning.jsonl",)
  with pytest.raises(ValueError, match=re.escape(
      "config.stages.sft.data.extra_files[0]='/no/such/non_reasoning.jsonl'"
      ": not found")):
    pipeline.validate(c)


def test_pipeline_validate_checks_the_base_model_dir(files):
  c = _filled(files)
  c.base_model = "/no/such/Qwen2.5-7B"
  with pytest.raises(ValueError,
                     match=r"config\.stages\.cold_start\.init_from"):
    pipeline.validate(c)


MINI = ("base", "reward_model", "r1_zero", "cold_start_data", "cold_start",
        "reasoning_rl", "rejection", "general_data", "sft", "all_scenario_rl")


def test_mini_validates_without_data_slots():
  c = r1.get_config("mini")
  assert tuple(c.order) == MINI
  pipeline.validate(c)  # every reference names an earlier stage
  s = c.stages
  assert [s[n].stage for n in MINI] == [
      "pretrain", "reward_model", "grpo", "generate", "sft", "grpo",
      "generate", "generate", "sft", "grpo"]
  hand_offs = {"r1_zero.init_from": "@base",
               "cold_start_data.init_from": "@r1_zero",
               "cold_start.init_from": "@base",
               "cold_start.data.train_file": "@cold_start_data/sft.jsonl",
               "reasoning_rl.init_from": "@cold_start",
               "rejection.init_from": "@reasoning_rl",
               "general_data.init_from": "@base",
               "sft.init_from": "@base",  # the BASE again [R1v2 B.3.3]
               "sft.data.train_file": "@rejection/sft.jsonl",
               "reward_model.init_from": "@base",
               "all_scenario_rl.init_from": "@sft",
               "all_scenario_rl.reward_models.helpfulness.init_from":
                   "@reward_model"}
  # R1's non-reasoning SFT samples after the reasoning ones [R1v2 B.3.3].
  assert s.sft.data.extra_files == ("@general_data/sft.jsonl",)
  flat = s.to_dict()
  for field, ref in hand_offs.items():
    v = flat
    for k in field.split("."):
      v = v[k]
    assert v == ref, field
  refs_of = pipeline._refs  # pylint: disable=protected-access
  refs = {p.removeprefix("config.stages."): v for step in pipeline.plan(c)
          if not step.is_eval for p, v in refs_of(step.config, step.field)}
  assert refs == {**hand_offs,
                  "sft.data.extra_files[0]": "@general_data/sft.jsonl"}
  for step in pipeline.plan(c):  # the stages' keys resolve
    assert pipeline.key(step, "")


def test_mini_stages_rewards_and_markup():
  c = r1.get_config("mini")
  s = c.stages
  weighted = {n: {k for k, v in s[n].rewards.items() if v}
              for n in ("r1_zero", "reasoning_rl")}
  # R1-Zero: accuracy + format [R1v1 2.2.2]; reasoning RL adds language.
  assert weighted == {"r1_zero": {"accuracy", "format"},
                      "reasoning_rl": {"accuracy", "format", "language"}}
  # The boxed summary answer and the language reward are host rewards.
  assert s.reasoning_rl.rl.host_rewards
  assert grpo.loss_config(s.reasoning_rl).eps_high == 10.0  # [R1v2 3.2.1]
  assert s.r1_zero.rl.temperature == s.reasoning_rl.rl.temperature == 1.0
  assert s.sft.epochs == 2.0  # [R1v2 B.4.2], in passes over its data
  # The samples each SFT stage sees: prompts x n, at most 2 kept per prompt.
  assert s.cold_start_data.prompts.task_count == 2048
  assert s.rejection.prompts.task_count == 3072
  # Cold-start rows: drifted sentences put back into the prompt's language
  # before the language filter; a summary of the answer sentence alone.
  f = list(s.cold_start_data.filters)
  assert f.index("correct") < f.index("translate") < f.index("language")
  assert s.cold_start_data.filter_options.readable.summary == "answer"
  # R1-Zero in its template; the R1 stages in r1_chat, whose markup is
  # single pieces of the tokenizer the base trains.
  assert s.r1_zero.template == s.cold_start_data.prompts.template == (
      "r1_zero")
  assert s.cold_start_data.target.template == "r1_chat"
  assert s.reasoning_rl.template == s.rejection.prompts.template == "r1_chat"
  for piece in (templates.BOS, templates.USER, templates.ASSISTANT,
                "<think>", "</answer>"):
    assert piece in s.base.tokenizer_options.special_tokens
  evals = {step.after: step.config.evals.multilingual_arithmetic
           for step in pipeline.plan(c) if step.is_eval}
  general = {step.after: step.config.evals.general_chat
             for step in pipeline.plan(c) if step.is_eval}
  r1_stages = ("cold_start", "reasoning_rl", "sft", "all_scenario_rl")
  for e in (evals, general):
    assert {n: x.template for n, x in e.items()} == {
        "r1_zero": "r1_zero", **{n: "r1_chat" for n in r1_stages}}
  # One task everywhere; the held-out problems are left out of the corpus
  # and differ from the sampling stages' streams.
  e = evals["sft"]
  k = s.base.data.corpus_kwargs
  assert (k.exclude_seed, k.exclude_count) == (e.task_seed, e.task_count)
  streams = {e.task_seed, s.cold_start_data.prompts.task_seed,
             s.rejection.prompts.task_seed, s.r1_zero.data.seed}
  assert len(streams) == 4
  # General requests: the SFT replies, the RM's pairs and the held-out
  # replies are drawn from different streams.
  assert len({general["sft"].task_seed, s.general_data.prompts.task_seed,
              s.reward_model.data.synthetic_kwargs.seed}) == 3
  for kw in (s.r1_zero.data.task_kwargs, s.reasoning_rl.data.task_kwargs,
             s.cold_start_data.prompts.loader_kwargs,
             s.rejection.prompts.loader_kwargs, e.loader_kwargs):
    assert (kw.num_ops, kw.max_operand) == (k.num_ops, k.max_operand)


def test_mini_all_scenario_rl_routes_rewards_by_source():
  """[R1v2 3.2.2]: rule rewards on reasoning prompts, the helpfulness RM
  (summary only [R1v2 3.1]) on general ones, format and language on all;
  T 0.7; its RM trained on summaries as the stage reads them."""
  s = r1.get_config("mini").stages
  g = s.all_scenario_rl
  assert g.data.task == "all_scenarios" and 0 < g.data.task_kwargs.general_frac < 1
  weighted = {k for k, v in g.rewards.items() if v}
  assert weighted == {"accuracy", "format", "language", "helpfulness"}
  scope = {k: g.reward_scope[k].sources for k in weighted}
  assert scope == {"accuracy": "reasoning", "helpfulness": "general",
                   "format": "", "language": ""}
  assert g.reward_models.helpfulness.span == "summary"
  assert g.rl.temperature == 0.7 and g.rl.host_rewards
  assert grpo.loss_config(g).eps_high == 10.0
  rm = s.reward_model
  assert rm.data.synthetic == "general_chat"
  assert rm.data.synthetic_kwargs.summary_only
  assert rm.data.template == g.template == "r1_chat"
  # The corpus's general requests are what the SFT data and RM build on.
  assert s.base.data.corpus_kwargs.p_general > 0


def test_mini_misspelled_hand_off_fails_naming_the_field():
  c = r1.get_config("mini")
  c.stages.sft.data.train_file = "@rejectoin/sft.jsonl"
  with pytest.raises(ValueError, match=re.escape(
      "config.stages.sft.data.train_file='@rejectoin/sft.jsonl': a hand-off "
      "must name a stage that runs earlier: no stage 'rejectoin'; did you "
      "mean 'rejection'?")):
    pipeline.validate(c)


def test_mini_seed_reaches_every_stage_and_its_key():
  c = r1.get_config("mini")
  before = {step.field: pipeline.key(step, "") for step in pipeline.plan(c)
            if not step.is_eval}
  c.seed = 1
  s = c.stages
  for name in MINI:
    assert s[name].seed == 1, name
  assert s.base.data.seed == s.cold_start.data.seed == s.sft.data.seed == 1
  # The problem streams do not move with the seed: both seeds are scored
  # on the same held-out problems and train on the same RL prompts.
  assert s.r1_zero.data.seed == s.reasoning_rl.data.seed == 0
  e = [step.config for step in pipeline.plan(c) if step.is_eval][0]
  assert e.evals.multilingual_arithmetic.task_seed == 1 and e.seed == 0
  after = {step.field: pipeline.key(step, "") for step in pipeline.plan(c)
           if not step.is_eval}
  # Every stage's marker key changes: a finished seed-0 stage is rerun.
  assert all(before[f] != after[f] for f in before), (before, after)
  pipeline.validate(c)
