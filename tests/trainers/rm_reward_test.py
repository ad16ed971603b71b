"""Reward models as rewards: span='summary' reads only the text after
</think> (checked against scoring the hand-built prompt + summary rows),
and a step with an RM reward is one compiled program that gives the same
update on 1 device and on a (2, 2, 2) mesh."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from r1jax import sharding as shd
from r1jax.data import tasks
from r1jax.losses import grpo as grpo_loss
from r1jax.models import ModelConfig, init_params
from r1jax.models import reward as rm_lib
from r1jax.rewards.device import combine, model_rewards, testing
from r1jax.sampling import Sampling, left_pad
from r1jax.trainers import grpo_step, train_state

V = testing.CharVocab()
CFG = ModelConfig(vocab_size=128, num_layers=2, embed_dim=32, num_heads=4,
                  num_kv_heads=2, head_dim=8, mlp_dim=64, max_seq_len=160)
RM_CFG = CFG.replace(num_layers=1)
TASK = tasks.get("arithmetic", num_ops=1, max_operand=5)
P, G, M = 4, 4, 12


def _rm_params():
  return jax.device_get(nn.unbox(rm_lib.init_params(RM_CFG,
                                                    jax.random.key(7))))


def _score_rows(params, prompt, completions, span):
  spec = model_rewards.ModelRewardSpec("rm", RM_CFG, span, mean=0.5,
                                       std=2.0)
  ptok, pmask = left_pad([V.encode(prompt)], testing.PAD, 16)
  tokens, mask = V.batch(completions, 96)  # none is cut
  return np.asarray(jax.jit(
      lambda *a: model_rewards.model_reward(params, spec, *a,
                                            len(completions), V.tags()))(
                                                jnp.asarray(ptok),
                                                jnp.asarray(pmask), tokens,
                                                mask))


def test_summary_span_ignores_the_reasoning():
  params = _rm_params()
  prompt = "Compute 2+3."
  comps = ["<think>2+3 is 5</think>The answer is 5.",
           "<think>hmm, 3+2? surely 5, no doubt</think>The answer is 5.",
           "<think>2+3 is 5</think>The answer is 6.",
           "no tags at all, answer 5"]
  summ = _score_rows(params, prompt, comps, "summary")
  full = _score_rows(params, prompt, comps, "full")
  np.testing.assert_allclose(summ[0], summ[1], atol=1e-5)
  assert abs(summ[0] - summ[2]) > 1e-4  # the summary changed
  assert abs(full[0] - full[1]) > 1e-4  # the full span sees <think>
  # Reference: the RM on the rows a reader sees (prompt + summary; no
  # </think>: the whole response), left-padded, normalised by hand.
  seen = [prompt + c.split("</think>")[-1] for c in comps]
  tok, mask = left_pad([V.encode(s) for s in seen], testing.PAD, 64)
  raw = rm_lib.scores(params, RM_CFG, jnp.asarray(tok), jnp.asarray(mask))
  np.testing.assert_allclose(summ, (np.asarray(raw) - 0.5) / 2.0,
                             atol=1e-5)


def _spec(rm_spec, start_step=0):
  scope = {"rm": {"start_step": start_step}}
  rewards = combine.DeviceRewardSpec.from_config(
      {"format": 0.5, "rm": 1.0}, {}, TASK, V.tags(), scope=scope,
      extra=["rm"])
  return grpo_step.RLSpec(
      cfg=CFG, num_prompts=P, group=G, max_new_tokens=M,
      sampling=Sampling(temperature=1.0), stop_ids=(testing.EOS,),
      pad_id=testing.PAD, loss=grpo_loss.make_config("grpo"),
      rewards=rewards, reward_models=(rm_spec,))


def _run(spec, mesh, steps=1):
  tx = optax.sgd(1.0)
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  rm_params, _, _ = shd.init_sharded(
      lambda r: rm_lib.init_params(RM_CFG, r), jax.random.key(7), mesh)
  state = train_state.init_state(params, tx)
  frozen = {"ref": jax.tree.map(jnp.copy, params), "teacher": None,
            "reward_models": {"rm": rm_params}}
  ex = TASK.examples(0, 0, P)
  tokens, mask = left_pad([V.encode(f"{e['prompt']} <think>") for e in ex],
                          testing.PAD, 64)
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  put = lambda x: jax.device_put(jnp.asarray(x), rep)  # noqa: E731
  batch = {"prompts": put(tokens), "pmask": put(mask), "class_V":
           put(V.classes()), "answers": {"answer": put(np.array(
               [TASK.device_answer(e)["answer"] for e in ex]))}}
  fn = jax.jit(grpo_step.make_rl_step(spec, tx))
  out = []
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    for s in range(steps):
      state, metrics, extras = fn(state, frozen, batch,
                                  jax.random.fold_in(jax.random.key(1), s))
      out.append((jax.device_get(metrics), jax.device_get(extras)))
    hlo = fn.lower(state, frozen, batch, jax.random.key(1)).as_text()
  return jax.device_get(state["params"]), out, hlo


RM_SPEC = model_rewards.ModelRewardSpec("rm", RM_CFG, "summary",
                                        eos_id=testing.EOS)


@pytest.fixture(scope="module")
def one_device():
  return _run(_spec(RM_SPEC), shd.make_mesh((1, 1, 1),
                                            devices=jax.devices()[:1]))


def test_rm_step_one_program_same_on_mesh(one_device):
  params_1, out_1, hlo = one_device
  # One program: the sampler's loop and the RM forward are in one module.
  assert hlo.count("func.func public @main") == 1 and "while" in hlo
  m_1, x_1 = out_1[0]
  assert x_1["rewards"]["rm"].std() > 0  # the RM separates the rows
  np.testing.assert_allclose(
      x_1["reward"], 0.5 * x_1["rewards"]["format"] + x_1["rewards"]["rm"],
      atol=1e-6)
  assert m_1["reward/rm"] == pytest.approx(x_1["rewards"]["rm"].mean(),
                                           abs=1e-6)
  params_8, out_8, _ = _run(_spec(RM_SPEC), shd.make_mesh((2, 2, 2)))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-5,
                                                       rtol=2e-5),
               params_1, params_8)
  for k in ("loss", "reward/rm", "reward/total"):
    np.testing.assert_allclose(m_1[k], out_8[0][0][k], rtol=1e-4,
                               atol=1e-6, err_msg=k)


def test_start_step_skips_the_model_until_then():
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  _, out, _ = _run(_spec(RM_SPEC, start_step=1), mesh, steps=2)
  (m0, x0), (m1, x1) = out
  assert np.all(x0["rewards"]["rm"] == 0) and m0["reward/rm"] == 0
  np.testing.assert_allclose(x0["reward"], 0.5 * x0["rewards"]["format"],
                             atol=1e-6)
  assert x1["rewards"]["rm"].std() > 0


# THE JUDGE REWARD: the step's verdicts are the host Judge's.


def test_judge_reward_in_the_step_equals_the_host_judge():
  from r1jax.rewards import judge as judge_host  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import decode as decode_lib  # pylint: disable=g-import-not-at-top
  from r1jax.trainers import judge_model  # pylint: disable=g-import-not-at-top
  from tests.rewards.device import judge_test as jt  # pylint: disable=g-import-not-at-top
  tok = jt.char_tok()
  params_j, mesh, _ = jt.train_judge(jt.CFG, tok, jt._example, steps=150)  # pylint: disable=protected-access
  j = judge_model.Judge(params=params_j, cfg=jt.CFG, tok=tok, mesh=mesh,
                        rules=shd.DEFAULT_RULES, template=jt.TEMPLATE,
                        kind="verdict", span="summary", max_new_tokens=20,
                        batch_rows=16, stop_ids=(tok.eos_id,))
  # A policy that answers like the judge's training data: the judge's own
  # weights as the policy (same vocabulary), sampling at T = 1.
  rng = np.random.default_rng(3)
  exs = [jt._example(rng)[:2] for _ in range(P)]  # pylint: disable=protected-access
  prompts, pmask = left_pad([tok.encode(f"{q}=") for q, _ in exs],
                            tok.pad_id, 16)
  q, qm = left_pad([tok.encode(q) for q, _ in exs], tok.pad_id, 16)
  r, rm = left_pad([tok.encode(a) for _, a in exs], tok.pad_id, 8)
  pol_cfg = jt.CFG
  rewards = combine.DeviceRewardSpec.from_config(
      {"judge": 1.0}, {}, None, V.tags(), report=(), extra=["judge"])
  spec = grpo_step.RLSpec(
      cfg=pol_cfg, num_prompts=P, group=G, max_new_tokens=16,
      sampling=Sampling(temperature=1.0), stop_ids=(tok.eos_id,),
      pad_id=tok.pad_id, loss=grpo_loss.make_config("grpo"), rewards=rewards,
      judge=grpo_step.JudgeSpec(jt.CFG, j.pieces()))
  tx = optax.sgd(0.0)
  state = train_state.init_state(params_j, tx)
  frozen = {"ref": params_j, "teacher": None,
            "judge": {"params": params_j, "chars": jnp.asarray(j.chars())}}
  batch = {"prompts": prompts, "pmask": pmask, "class_V": V.classes(),
           "answers": {}, "question": q, "qmask": qm, "reference": r,
           "rmask": rm}
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    _, m, x = jax.jit(grpo_step.make_rl_step(spec, tx))(
        state, frozen, batch, jax.random.key(5))
  texts = decode_lib.decode(tok, np.asarray(x["tokens"]),
                            np.asarray(x["length"]))
  want, ok = j.score([qq for qq, _ in exs for _ in range(G)],
                     [a for _, a in exs for _ in range(G)], texts)
  got = np.asarray(x["rewards"]["judge"])
  # Rows 4 and 9 of this draw hold ids past the tokenizer's 99 (the
  # model has 128 embeddings): dropped on both paths.
  np.testing.assert_array_equal(np.isnan(got), ~ok)
  np.testing.assert_allclose(got[ok], want[ok])
  np.testing.assert_allclose(x["reward"], np.where(ok, want, 0.0))
  assert float(m["reward/judge/missing"]) == pytest.approx((~ok).mean())
  assert float(m["reward/judge"]) == pytest.approx(
      want[ok].mean() if ok.any() else 0.0, abs=1e-6)
  assert judge_host.KINDS  # the host module stays importable
