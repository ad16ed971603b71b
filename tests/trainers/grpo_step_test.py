"""The compiled GRPO step: mesh and micro-batch invariance, the two-program
(host rewards) split, dynamic sampling."""
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
from r1jax.rewards.device import combine, testing
from r1jax.sampling import Sampling, left_pad
from r1jax.trainers import grpo_step, train_state

V = testing.CharVocab()
CFG = ModelConfig(vocab_size=128, num_layers=2, embed_dim=32, num_heads=4,
                  num_kv_heads=2, head_dim=8, mlp_dim=64, max_seq_len=128)
P, G, M = 4, 4, 12
TASK = tasks.get("arithmetic", num_ops=1, max_operand=5)
# A random model earns no accuracy; the truncation penalty (no EOS drawn)
# gives the groups unequal rewards, so the advantages are not all zero.
REWARDS = combine.DeviceRewardSpec.from_config(
    {"accuracy": 1.0, "format": 1.0, "truncation": 1.0}, {}, TASK,
    V.tags())


def _spec(**kw):
  base = dict(cfg=CFG, num_prompts=P, group=G, max_new_tokens=M,
              sampling=Sampling(temperature=1.0), stop_ids=(testing.EOS,),
              pad_id=testing.PAD, loss=grpo_loss.make_config("grpo"),
              rewards=REWARDS)
  return grpo_step.RLSpec(**{**base, **kw})


def _batch(mesh, p=P):
  ex = TASK.examples(0, 0, p)
  tokens, mask = left_pad([V.encode(f"{e['prompt']} <think>")
                           for e in ex], testing.PAD, 64)
  answers = {"answer": np.array([TASK.device_answer(e)["answer"]
                                 for e in ex])}
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  put = lambda x: jax.device_put(jnp.asarray(x), rep)  # noqa: E731
  return {"prompts": put(tokens), "pmask": put(mask),
          "answers": jax.tree.map(put, answers), "class_V": put(V.classes())}


def _run(spec, mesh, steps=1, tx=None):
  # SGD: Adam would turn float noise in near-zero gradients into full steps.
  tx = tx or optax.sgd(1.0)
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  state = train_state.init_state(params, tx)
  frozen = {"ref": jax.tree.map(jnp.copy, params), "teacher": None}
  batch = _batch(mesh, spec.num_prompts * (2 if spec.dynamic_sampling
                                           else 1))
  fn = jax.jit(grpo_step.make_rl_step(spec, tx))
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    for s in range(steps):
      state, metrics, _ = fn(state, frozen, batch,
                             jax.random.fold_in(jax.random.key(1), s))
  return jax.device_get(state["params"]), jax.device_get(metrics)


# mu=2 epochs x 2 minibatches x 2 micro-batches, KL against a reference:
# every part of the step runs.
FULL = dict(updates_per_batch=2, minibatches=2, microbatches=2)


@pytest.fixture(scope="module")
def one_device():
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  return _run(_spec(**FULL), mesh, steps=2)


def _close(a, b, tol=2e-5):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=tol,
                                                       rtol=tol), a, b)


def test_same_step_on_one_device_and_a_2x2x2_mesh(one_device):
  params_1, m_1 = one_device
  params_8, m_8 = _run(_spec(**FULL), shd.make_mesh((2, 2, 2)), steps=2)
  # The update moved the params, and identically on both meshes.
  init = jax.device_get(nn.unbox(init_params(CFG, jax.random.key(0))))
  assert max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(params_1), jax.tree.leaves(init))) > 1e-3
  _close(params_1, params_8)
  for k in ("loss", "reward/total", "kl_k3", "ratio", "clip_low",
            "length/mean", "entropy"):
    np.testing.assert_allclose(m_1[k], m_8[k], rtol=1e-4, atol=1e-6,
                               err_msg=k)
  # The second epoch/minibatch sees ratios != 1 and a non-zero KL.
  assert m_1["ratio_max"] > 1.0 or m_1["ratio_min"] < 1.0
  assert m_1["kl_k3"] > 0


def test_microbatches_do_not_change_the_update(one_device):
  params_1, m_1 = one_device
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  params_4, m_4 = _run(_spec(**dict(FULL, microbatches=4)), mesh, steps=2)
  _close(params_1, params_4)
  np.testing.assert_allclose(m_1["loss"], m_4["loss"], rtol=1e-4, atol=1e-7)


def test_two_programs_equal_one():
  """Host rewards: rollout, rewards outside, learn = the one-program step."""
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  spec = _spec()
  tx = optax.sgd(0.1)
  one_params, one_m = _run(spec, mesh, tx=tx)
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  state = train_state.init_state(params, tx)
  batch = _batch(mesh)
  k_sample, k_learn = jax.random.split(jax.random.fold_in(
      jax.random.key(1), 0))
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    comp = jax.jit(grpo_step.make_rollout(spec))(
        state["params"], batch["prompts"], batch["pmask"], k_sample)
    answers = {"answer": jnp.repeat(batch["answers"]["answer"], G)}
    total_B, _, _ = combine.score(REWARDS, combine.DeviceBatch(
        comp.tokens_BxM, comp.mask_BxM, comp.truncated_B, answers,
        batch["class_V"], REWARDS.tags, task=TASK))
    state, m = jax.jit(grpo_step.make_learn(spec, tx))(
        state, {"ref": jax.tree.map(jnp.copy, params), "teacher": None},
        batch["prompts"], batch["pmask"], comp, total_B, k_learn)
  _close(one_params, jax.device_get(state["params"]), 1e-6)
  np.testing.assert_allclose(one_m["loss"], m["loss"], rtol=1e-5)


def test_dynamic_sampling_keeps_groups_with_signal():
  spec = _spec(dynamic_sampling=True, loss=grpo_loss.make_config("dapo"))
  learn = grpo_step.make_learn(spec, optax.sgd(0.0))
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  batch = _batch(mesh, 2 * P)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    comp = jax.jit(grpo_step.make_rollout(spec))(
        params, batch["prompts"], batch["pmask"], jax.random.key(3))
    # Of 8 oversampled groups only groups 1, 4 and 6 have unequal rewards.
    r = np.zeros((2 * P, G), np.float32)
    r[1, 0], r[4, 2], r[6, 1] = 1.0, 1.0, 2.0
    frozen = {"ref": None, "teacher": None}
    _, m = jax.jit(learn)(train_state.init_state(params, optax.sgd(0.0)), frozen,
                          batch["prompts"], batch["pmask"], comp,
                          jnp.asarray(r.reshape(-1)), jax.random.key(4))
  assert m["kept_frac"] == pytest.approx(3 / P)
  assert m["zero_std_frac"] == pytest.approx(5 / 8)
  # Advantages of the kept groups only: group_std of [1,0,0,0] etc.
  adv = np.concatenate([(x - x.mean()) / (x.std() + 1e-4)
                        for x in (r[1], r[4], r[6])] + [np.zeros(G)])
  assert m["advantage_abs_mean"] == pytest.approx(np.abs(adv).mean(),
                                                  rel=1e-4)


def test_unscored_rows_take_no_part_in_the_update():
  """A NaN reward (host rewards: a program the sandbox could not run)
  leaves its row out: what that row holds does not change the update, and
  scoring it 0 instead would."""
  spec = _spec()
  learn = jax.jit(grpo_step.make_learn(spec, optax.sgd(1.0)))
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  batch = _batch(mesh)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    comp = jax.jit(grpo_step.make_rollout(spec))(
        params, batch["prompts"], batch["pmask"], jax.random.key(3))
    r = np.random.default_rng(0).uniform(size=P * G).astype(np.float32)
    r[1] = np.nan
    other = comp._replace(tokens_BxM=comp.tokens_BxM.at[1].set(
        (comp.tokens_BxM[1] + 1) % CFG.vocab_size))

    def step(c, rewards):
      state = train_state.init_state(jax.tree.map(jnp.copy, params),
                                optax.sgd(1.0))
      return learn(state, {"ref": jax.tree.map(jnp.copy, params),
                           "teacher": None}, batch["prompts"],
                   batch["pmask"], c, jnp.asarray(rewards),
                   jax.random.key(4))

    s1, m1 = step(comp, r)
    s2, m2 = step(other, r)
    s0, _ = step(comp, np.nan_to_num(r))
  _close(jax.device_get(s1["params"]), jax.device_get(s2["params"]), 1e-7)
  assert m1["unscored_frac"] == pytest.approx(1 / (P * G))
  assert np.isfinite(m1["loss"]) and m1["loss"] == m2["loss"]
  diff = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                      jax.device_get(s1["params"]),
                      jax.device_get(s0["params"]))
  assert max(jax.tree.leaves(diff)) > 1e-6


def test_rollout_chunks_keep_the_rows_prompt_major():
  """Greedy rollouts: sampled in 2 chunks of prompts, the rows come back in
  the same prompt-major order as in one piece, on a 2x2x2 mesh."""
  mesh = shd.make_mesh((2, 2, 2))
  greedy = Sampling(temperature=0.0)
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  batch = _batch(mesh, 2 * P)
  out = {}
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    for n in (1, 2, 4):
      spec = _spec(num_prompts=2 * P, sampling=greedy, rollout_chunks=n)
      out[n] = jax.device_get(jax.jit(grpo_step.make_rollout(spec))(
          params, batch["prompts"], batch["pmask"], jax.random.key(3)))
  # Distinct prompts give distinct greedy completions (the test can fail).
  assert len({tuple(r) for r in out[1].tokens_BxM}) > 2
  for n in (2, 4):
    for a, b in zip(out[1], out[n]):
      np.testing.assert_allclose(a, b, atol=1e-5)


def test_tis_weight_uses_the_truncated_behaviour_distribution():
  """Top-p rollouts draw from the truncated distribution mu; the learner's
  pi_old is untruncated, so TIS weights min(pi_old / mu, cap) are below 1
  (with mu the untruncated log-prob they would be ~1 and correct nothing).
  Re-derived from the sampler's own log-probs."""
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  spec = _spec(sampling=Sampling(temperature=1.0, top_p=0.7), minibatches=2,
               loss=grpo_loss.make_config("grpo", tis_cap=2.0, beta=0.0))
  params, _, _ = shd.init_sharded(lambda r: init_params(CFG, r),
                                  jax.random.key(0), mesh)
  batch = _batch(mesh)
  tx = optax.sgd(0.0)
  with jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES):
    comp = jax.jit(grpo_step.make_rollout(spec))(
        params, batch["prompts"], batch["pmask"], jax.random.key(3))
    r = jnp.arange(P * G, dtype=jnp.float32) % 3
    _, m = jax.jit(grpo_step.make_learn(spec, tx))(
        train_state.init_state(params, tx), {"ref": None, "teacher": None},
        batch["prompts"], batch["pmask"], comp, r, jax.random.key(4))
  c = jax.device_get(comp)
  real = c.mask_BxM > 0
  want = np.minimum(np.exp(c.logp_BxM - c.logp_truncated_BxM), 2.0)[real]
  assert want.mean() < 0.95  # truncation removed real mass
  assert m["tis_weight"] == pytest.approx(want.mean(), rel=1e-4)
  assert m["logp_diff"] == pytest.approx(
      np.abs(c.logp_BxM - c.logp_truncated_BxM)[real].mean(), rel=1e-3)
