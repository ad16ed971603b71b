"""On-policy distillation inside the one compiled GRPO step: the per-token
advantage vs a numpy re-derivation, zero update for a teacher equal to the
student, one program with the teacher as an argument, config errors that
name the field, and a short trainer run."""
import math
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax.losses import grpo as grpo_loss
from r1jax.models import Transformer, init_params, presets
from r1jax.rewards.device import combine
from r1jax.sampling import Sampling
from r1jax.trainers import grpo, grpo_step, train_state
from tests.trainers import util
from tests.trainers.grpo_step_test import CFG, G, M, P, V, _batch, _spec

# A teacher of another size (same vocabulary).
TEACHER_CFG = CFG.replace(num_layers=1, embed_dim=48, num_heads=6,
                          mlp_dim=96)
TEMP = 0.7
# Rewards that give every group equal rewards (advantage 0): weights 0.
NO_REWARDS = combine.DeviceRewardSpec.from_config({}, {}, None, V.tags(),
                                                  report=())


def _one_device():
  return shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])


def _params(cfg, seed, mesh):
  return shd.init_sharded(lambda r: init_params(cfg, r),
                          jax.random.key(seed), mesh)[0]


def _ctx(mesh):
  return jax.set_mesh(mesh), nn.logical_axis_rules(shd.DEFAULT_RULES)


def _np_logp(cfg, params, tokens_BxS, seg_BxS, pos_BxS):
  """numpy float64 log softmax(logits / TEMP) of each completion token."""
  logits = jax.jit(lambda p: Transformer(cfg).apply(
      {"params": p}, tokens_BxS, pos_BxS, seg_BxS)[0])(params)
  z = np.asarray(logits, np.float64)[:, -M - 1:-1] / TEMP
  z = z - z.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  tok = np.asarray(tokens_BxS)[:, -M:]
  return np.take_along_axis(logp, tok[..., None], -1)[..., 0]


def test_token_advantage_is_the_teacher_student_logp_gap():
  """One SGD(1) update with a group advantage from rewards plus
  coef * (teacher - student) per token: the metrics and the update equal
  a re-derivation from log-probs computed apart (numpy log softmax of the
  models' full logits at the sampling temperature)."""
  mesh, coef = _one_device(), 0.5
  spec = _spec(sampling=Sampling(temperature=TEMP), distill_coef=coef,
               teacher_cfg=TEACHER_CFG,
               loss=grpo_loss.make_config("grpo", beta=0.0))
  tx = optax.sgd(1.0)
  params, teacher = _params(CFG, 0, mesh), _params(TEACHER_CFG, 5, mesh)
  batch = _batch(mesh)
  r_B = jnp.arange(P * G, dtype=jnp.float32) % 3
  m1, m2 = _ctx(mesh)
  with m1, m2:
    comp = jax.jit(grpo_step.make_rollout(spec))(
        params, batch["prompts"], batch["pmask"], jax.random.key(3))
    state, m = jax.jit(grpo_step.make_learn(spec, tx))(
        train_state.init_state(params, tx), {"ref": None, "teacher": teacher},
        batch["prompts"], batch["pmask"], comp, r_B, jax.random.key(4))
    # The rows, built here from the rollout (prompt-major, G per prompt).
    c = jax.device_get(comp)
    mask = np.asarray(c.mask_BxM)
    pm = np.repeat(np.asarray(batch["pmask"]), G, 0)
    tokens = np.concatenate([np.repeat(np.asarray(batch["prompts"]), G, 0),
                             c.tokens_BxM], 1)
    seg = np.concatenate([pm, mask], 1).astype(np.int32)
    pos = np.maximum(np.cumsum(seg, 1) - 1, 0).astype(np.int32)
    student_np = _np_logp(CFG, params, tokens, seg, pos)
    teacher_np = _np_logp(TEACHER_CFG, teacher, tokens, seg, pos)
    real = mask > 0
    tok_adv = np.where(real, coef * (teacher_np - student_np), 0.0)
    r = np.asarray(r_B, np.float64).reshape(P, G)
    adv = ((r - r.mean(1, keepdims=True))
           / (r.std(1, keepdims=True) + 1e-4)).reshape(-1)
    a_BxM = adv[:, None] + tok_adv
    # The re-derived loss (ratio 1 at the rollout params, seq_mean).
    len_B = real.sum(1)
    w = np.where(real, 1.0 / np.maximum(len_B, 1)[:, None], 0.0) / (
        len_B > 0).sum()

    def ref_loss(p):
      logits, _ = Transformer(CFG).apply({"params": p}, tokens, pos, seg)
      lp = jax.nn.log_softmax(logits[:, -M - 1:-1] / TEMP, -1)
      lp = jnp.take_along_axis(lp, tokens[:, -M:, None], -1)[..., 0]
      return -jnp.sum(jnp.asarray(w * a_BxM, jnp.float32) * lp)

    grads = jax.jit(jax.grad(ref_loss))(params)
  # The per-token function re-derives the same numbers.
  np.testing.assert_allclose(grpo_loss.distill_advantages(
      teacher_np, student_np, mask, coef), tok_adv, rtol=1e-5, atol=1e-6)
  n = real.sum()
  assert m["distill/reverse_kl"] == pytest.approx(
      (student_np - teacher_np)[real].sum() / n, rel=1e-4)
  assert m["distill/teacher_logp"] == pytest.approx(
      teacher_np[real].sum() / n, rel=1e-4)
  assert m["loss"] == pytest.approx(-(w * a_BxM).sum(), rel=1e-4, abs=1e-6)
  assert m["ratio_min"] == pytest.approx(1.0, abs=1e-5)
  # SGD(1): params moved by exactly -grad of the re-derived loss.
  moved = jax.tree.map(lambda a, b: np.asarray(b) - np.asarray(a), params,
                       jax.device_get(state["params"]))
  scale = max(float(np.abs(g).max()) for g in jax.tree.leaves(grads))
  assert scale > 1e-4
  jax.tree.map(lambda d, g: np.testing.assert_allclose(
      d, -np.asarray(g), atol=1e-4 * scale), moved, grads)


def test_one_program_and_zero_update_for_a_teacher_equal_to_the_student():
  """The jitted distillation rl_step with no reward signal (weights 0),
  run with teacher == student and with another teacher of the same shapes:
  one compiled program, the teacher an argument of it; the first gives
  exactly no update, the second a real one."""
  mesh = _one_device()
  spec = _spec(distill_coef=1.0, teacher_cfg=CFG, rewards=NO_REWARDS,
               loss=grpo_loss.make_config("grpo", beta=0.0))
  tx = optax.sgd(1.0)
  fn = jax.jit(grpo_step.make_rl_step(spec, tx))
  batch = _batch(mesh)
  params, other = _params(CFG, 0, mesh), _params(CFG, 5, mesh)
  init = jax.device_get(params)
  out = {}
  m1, m2 = _ctx(mesh)
  with m1, m2:
    for name, teacher in (("self", jax.tree.map(jnp.copy, params)),
                          ("other", other)):
      state = train_state.init_state(jax.tree.map(jnp.copy, params), tx)
      frozen = {"ref": None, "teacher": teacher}
      if name == "self":
        lowered = fn.lower(state, frozen, batch, jax.random.key(1))
      s, m, _ = fn(state, frozen, batch, jax.random.key(1))
      out[name] = (jax.device_get(s["params"]), jax.device_get(m))

  # ZERO UPDATE for teacher == student; a real one for another teacher.
  new, m = out["self"]
  assert m["zero_std_frac"] == 1.0  # no reward signal at all
  assert m["distill/reverse_kl"] == 0.0 and m["grad_norm"] == 0.0
  jax.tree.map(np.testing.assert_array_equal, new, init)
  new, m = out["other"]
  # Two random models: a small KL, but a real gradient.
  assert m["distill/reverse_kl"] != 0.0 and m["grad_norm"] > 1e-3, m
  assert max(float(np.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(new), jax.tree.leaves(init))) > 1e-4

  # ONE PROGRAM: both teachers ran through one compilation, and every leaf
  # of the teacher is a parameter of its main function (named by its
  # path), not a constant baked into it.
  assert fn._cache_size() == 1  # pylint: disable=protected-access
  text = lowered.as_text(debug_info=True)
  sig = re.search(r"func\.func public @main\((.*?)\)\s*->", text, re.S)[1]
  args = set(re.findall(r'%arg\d+: [^)]*? loc\("([^"]+)"\)', sig))
  want = {"frozen['teacher']" + jax.tree_util.keystr(path) for path, _ in
          jax.tree_util.tree_flatten_with_path(other)[0]}
  assert len(want) == len(jax.tree.leaves(init)) > 5
  assert want <= args, sorted(want - args)
  biggest = max(math.prod(x.shape) for x in jax.tree.leaves(other))
  for const in re.findall(r"dense<[^>]*>\s*:\s*tensor<([0-9x]+)x", text):
    assert math.prod(int(d) for d in const.split("x")) < biggest


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
  return util.tokenizer(str(tmp_path_factory.mktemp("tok")))


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, tok_path):
  """HF directories of a random teacher smaller than the student: with the
  student's tokenizer, and with another (a byte-level BPE)."""
  root = tmp_path_factory.mktemp("teachers")
  cfg = presets.get("tiny").replace(vocab_size=384, num_layers=1,
                                    embed_dim=16, num_heads=2, head_dim=8,
                                    mlp_dim=32)
  params = _params(cfg, 7, _one_device())
  same, other = str(root / "same"), str(root / "other")
  ckpt_lib.export_hf(same, cfg, params, tokenizer=tok_path)
  ckpt_lib.export_hf(other, cfg, params,
                     tokenizer=util.hf_tokenizer(str(root / "bpe")))
  return {"same": same, "other": other}


def test_config_errors_name_the_field(tok_path, teachers, tmp_path):
  with pytest.raises(ValueError, match=r"config\.distill\.coef=1\.0 > 0 "
                     r"needs config\.distill\.teacher"):
    grpo.validate(util.grpo_config(tok_path, **{"distill.coef": 1.0}))
  with pytest.raises(ValueError, match=r"config\.distill\.teacher=.* is set "
                     r"but config\.distill\.coef=0\.0"):
    grpo.validate(util.grpo_config(
        tok_path, **{"distill.teacher": teachers["same"]}))
  with pytest.raises(ValueError, match=r"config\.distill\.teacher: .*"
                     "not found"):
    grpo.validate(util.grpo_config(tok_path, **{
        "distill.teacher": str(tmp_path / "nope"), "distill.coef": 1.0}))
  pure = {f"rewards.{k}": 0.0 for k in util.grpo_config(tok_path).rewards}
  with pytest.raises(ValueError, match=r"config\.rl\.dynamic_sampling=True "
                     "with pure distillation"):
    grpo.validate(util.grpo_config(tok_path, **pure, **{
        "distill.teacher": teachers["same"], "distill.coef": 1.0,
        "rl.dynamic_sampling": True}))
  c = util.grpo_config(tok_path, **{"distill.teacher": teachers["other"],
                                    "distill.coef": 1.0})
  grpo.validate(c)
  with pytest.raises(ValueError, match=r"config\.distill\.teacher=.*: its "
                     r"tokenizer .*logit distillation needs one tokenizer; "
                     r"use generate \+ sft \(text\)"):
    grpo.build(c, str(tmp_path / "run"))


def test_pure_distillation_trainer_run(tok_path, teachers, tmp_path):
  """configs/r1_zero.py:tiny-like, 2 steps, every reward weight 0: the
  teacher (an HF directory) is the only signal; its metrics are logged."""
  c = util.grpo_config(tok_path, **{
      "distill.teacher": teachers["same"], "distill.coef": 1.0,
      "steps": 2, "loss.beta": 0.0, "log.samples_every": 0})
  c.update_from_flattened_dict({f"rewards.{k}": 0.0 for k in c.rewards})
  w = str(tmp_path / "run")
  grpo.run(c, w)
  rows = util.metric_rows(w)
  for step in (1, 2):
    m = rows[step]
    assert math.isfinite(m["distill/reverse_kl"]), m
    assert m["distill/teacher_logp"] < 0 and m["zero_std_frac"] == 1.0, m
    assert m["grad_norm"] > 0, m
