"""The grpo stage's config: validation gaps fail before anything compiles,
naming the field; the accelerator recipe states the paper's batch."""
import json

import pytest

from configs import r1_zero as r1_zero_config
from configs import sft as sft_config
from r1jax.rewards import total as reward_total
from r1jax.trainers import grpo, sft
from tests.trainers import util


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return util.tokenizer(str(tmp_path_factory.mktemp("tok")))


@pytest.mark.parametrize("override, match", [
    # Division by zero in the loss, then a misleading non-finite abort.
    ({"rl.temperature": 0.0}, r"config\.rl\.temperature=0\.0 must be > 0"),
    ({"rl.cache_dtype": "fp8"}, r"config\.rl\.cache_dtype='fp8'"),
    # 4 prompts x 4 = 16 rows / (2 x 4) = 2 rows per micro-batch < 8 devices.
    ({"rl.minibatches": 2, "rl.microbatches": 4},
     r"minibatches x microbatches\) = 16 / \(2 x 4\) gives 2 rows per "
     r"piece, not divisible by the data-parallel size 8"),
    ({"rl.rollout_chunks": 4}, r"config\.rl\.num_prompts x oversample x "
     r"group_size / rollout_chunks = 16 / 4 gives 4 rows"),
    ({"rl.rollout_chunks": 3}, r"config\.rl\.rollout_chunks=3 must divide"),
    ({"eval.num_prompts": 4, "eval.k": 1, "eval.batch_prompts": 4},
     r"config\.eval\.batch_prompts x config\.eval\.k = 4 gives 4 rows"),
    ({"rl.minibatches": 2, "rl.ref_update_every": 3},
     r"config\.rl\.ref_update_every=3 counts optimizer updates and must be "
     r"a multiple of the 2 updates per rollout"),
])
def test_validation_names_the_field(override, match, tok_path):
  c = util.grpo_config(tok_path, **{"mesh.shape": (1, 8, 1), **override})
  with pytest.raises(ValueError, match=match):
    grpo.validate(c)


def test_sft_microbatch_rows_must_divide_over_devices():
  c = util.sft_config_tiny(**{"mesh.shape": (1, 8, 1), "data.batch_size": 16,
                              "data.microbatches": 4})
  with pytest.raises(ValueError, match=r"config\.data\.batch_size / config"
                     r"\.data\.microbatches = 16 / 4 gives 4 rows"):
    sft.validate(c)


def test_sft_eval_block_is_the_eval_stages():
  """SFT evaluates through config.evals (the eval stage's evaluator blocks,
  run by tests/trainers/evaluate_test.py); GRPO's held-out fields are not
  accepted there and silently ignored."""
  c = sft_config.get_config("tiny")
  assert sorted(c.eval) == ["batch_rows", "every", "math_timeout_s"]
  assert not c.evals
  c.lock()  # as main passes it
  with pytest.raises(KeyError, match='"k" does not exist'):
    c.update_from_flattened_dict({"eval.k": 4})


def test_long_prompt_fails_at_startup_not_mid_run(tmp_path, tok_path):
  """The last record of the file is too long: build() names it before any
  step runs (a resumed run would otherwise replay the crash)."""
  rows = [{"prompt": f"What is {i} + {i}?", "answer": str(2 * i)}
          for i in range(20)]
  rows.append({"prompt": "What is " + " + ".join(["1"] * 80) + "?",
               "answer": "80"})
  path = tmp_path / "train.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  c = util.grpo_config(tok_path, **{"data.train_file": str(path),
                                    "rl.host_rewards": True})
  grpo.validate(c)
  with pytest.raises(ValueError, match=r"config\.data\.train_file: prompt "
                     r"20 has \d+ tokens with config\.template='plain' > "
                     r"config\.max_prompt_len=64"):
    grpo.build(c, str(tmp_path / "run"))


def test_budget_beyond_the_model_context_fails(tmp_path, tok_path):
  # The tiny preset's max_seq_len is 512.
  c = util.grpo_config(tok_path, **{"rl.max_new_tokens": 480})
  grpo.validate(c)
  with pytest.raises(ValueError, match=r"config\.max_prompt_len \+ config"
                     r"\.rl\.max_new_tokens = 64 \+ 480 = 544 exceeds the "
                     r"model's max_seq_len 512"):
    grpo.build(c, str(tmp_path))


@pytest.mark.parametrize("max_len", [None, 0])
def test_constant_aggregation_max_len_defaults_to_the_budget(max_len,
                                                            tok_path):
  c = util.grpo_config(tok_path, **{"loss.preset": "dr_grpo"})
  c.loss.max_len = max_len
  assert grpo.loss_config(c).max_len == c.rl.max_new_tokens == 8


def test_reward_options_think_opened_is_not_an_option(tok_path):
  """think_opened follows the template; setting it by hand is refused."""
  c = util.grpo_config(tok_path)
  for name in ("format", "language", "reflection"):
    assert "think_opened" not in c.reward_options[name]
  c.reward_options.format.think_opened = True
  with pytest.raises(ValueError, match=r"config\.reward_options\.format\."
                     r"think_opened: not an option; it follows "
                     r"config\.template"):
    grpo.validate(c)


# --- The accelerator recipe: the paper's batch, in its units ---------------
def test_r1_zero_recipe_batch_is_the_papers():
  """[R1v2 2.1]: 512 samples (32 questions x 16) per optimizer update; a
  rollout of 8,192 outputs in 16 such mini-batches, 1 epoch; reference
  refreshed every 400 updates; 10,400 updates in all."""
  for variant in r1_zero_config.ACCELERATOR:
    c = r1_zero_config.get_config(variant)
    r = c.rl
    outputs_per_rollout = r.num_prompts * r.group_size
    updates_per_rollout = r.updates_per_batch * r.minibatches
    assert r.group_size == 16
    assert outputs_per_rollout == r1_zero_config.PAPER_OUTPUTS_PER_ROLLOUT
    assert (outputs_per_rollout // r.minibatches
            == r1_zero_config.PAPER_SAMPLES_PER_UPDATE == 512)
    assert r.updates_per_batch == 1 and updates_per_rollout == 16
    # Counted in optimizer updates: 25 rollouts.
    assert r.ref_update_every == r1_zero_config.PAPER_REF_REFRESH_UPDATES
    assert r.ref_update_every % updates_per_rollout == 0
    assert c.steps * updates_per_rollout == r1_zero_config.PAPER_TOTAL_UPDATES
    # Warmup (in updates) is not published: exactly one rollout's updates.
    assert c.optim.warmup_steps == updates_per_rollout
    assert (c.optim.lr, c.loss.beta, r.temperature) == (3e-6, 0.001, 1.0)
    # R1-Zero's clip range is not published: the grpo preset's 0.2.
    assert grpo.loss_config(c).eps_low == grpo.loss_config(c).eps_high == 0.2


def test_r1_zero_recipe_validates_on_8_data_parallel_devices():
  c = r1_zero_config.get_config("qwen2.5-1.5b")
  c.mesh.shape = (1, 8, 1)
  c.init_from = ""  # the checkpoint path is the user's
  c.data.train_file = c.data.eval_file = ""
  c.data.task = "arithmetic"
  grpo.validate(c)


@pytest.mark.parametrize("template, opened", [
    ("r1_chat", True), ("r1_chat_math", True), ("r1_zero", False),
    ("plain", False)])
def test_think_opened_follows_the_template(template, opened, tmp_path,
                                           tok_path):
  """Device and host rewards both learn from the template whether the
  prompt opened <think> (before: set by hand in three option blocks, so
  r1_chat with default options scored every completion format 0)."""
  c = util.grpo_config(tok_path, template=template, max_prompt_len=480)
  b = grpo.build(c, str(tmp_path))
  assert b["prompter"].think_opened is opened
  assert b["spec"].rewards.think_opened is opened
  options = reward_total.with_template(c.reward_options.to_dict(), opened)
  for name in ("format", "language", "reflection"):
    assert options[name]["think_opened"] is opened


@pytest.mark.parametrize("variant", ["tiny", *r1_zero_config.ACCELERATOR])
def test_distillation_is_off_in_every_variant(variant):
  """config.distill (on-policy distillation, tests/trainers/
  distill_step_test.py) exists in every variant, off: no teacher, coef 0."""
  c = r1_zero_config.get_config(variant)
  assert (c.distill.teacher, c.distill.coef) == ("", 0.0)


def test_negative_distill_coef_names_the_field(tok_path):
  c = util.grpo_config(tok_path, **{"distill.coef": -1.0})
  with pytest.raises(ValueError, match=r"config\.distill\.coef=-1\.0 must "
                     r"be >= 0"):
    grpo.validate(c)
