"""GRPO loss family vs a float64 numpy re-derivation from ANCHORS.md, its
gradient vs finite differences, and invariance to the micro-batch split."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax import losses
from r1jax.losses import grpo

P, G, T = 3, 4, 7
B = P * G
LENGTHS = np.array([7, 3, 0, 5, 1, 7, 2, 6, 4, 4, 7, 3])
MAX_LEN = 10  # L_max of Dr. GRPO, deliberately != T.


def _data(seed=0):
  rng = np.random.default_rng(seed)
  rewards = rng.normal(size=(P, G))
  rewards[1] = 1.0  # A group whose rewards are all equal: advantage 0.
  logp = -rng.uniform(0.05, 3.0, (B, T))
  return dict(
      rewards=rewards,
      logp=logp,
      old=logp + rng.normal(0.0, 0.5, (B, T)),  # Clips on both sides.
      ref=logp + rng.normal(0.0, 0.4, (B, T)),
      sampler=logp + rng.normal(0.0, 0.5, (B, T)),
      mask=np.arange(T)[None, :] < LENGTHS[:, None])


# ----------------------------------------------------------------------------
# Independent numpy reference: loops straight from the formulas.
# ----------------------------------------------------------------------------
def _np_advantages(rewards, kind, eps):
  flat = [r for row in rewards for r in row]
  bmean = sum(flat) / len(flat)
  bstd = (sum((r - bmean) ** 2 for r in flat) / len(flat)) ** 0.5
  adv = []
  for row in rewards:
    mean = sum(row) / G
    std = (sum((r - mean) ** 2 for r in row) / G) ** 0.5  # population std
    for r in row:
      adv.append({"group_std": (r - mean) / (std + eps),
                  "group": r - mean,
                  "batch_std": (r - mean) / (bstd + eps),
                  "rloo": r - (sum(row) - r) / (G - 1),
                  "none": r}[kind])
  return adv


def _np_loss(cfg, d, logp=None, tok_adv=None):
  """(loss, metrics) for the whole batch as one micro-batch, float64;
  `tok_adv` [B, T]: a per-token term added to each row's advantage."""
  logp = d["logp"] if logp is None else logp
  adv = _np_advantages(d["rewards"], cfg.advantage, cfg.adv_eps)
  total, sums, ntok = 0.0, {}, 0
  rmin, rmax = np.inf, -np.inf
  add = lambda k, v: sums.__setitem__(k, sums.get(k, 0.0) + float(v))
  row_losses = []
  for i in range(B):
    n = LENGTHS[i]
    if n:
      s = np.exp(np.mean([logp[i, t] - d["old"][i, t] for t in range(n)]))
    row = 0.0
    for t in range(n):
      ntok += 1
      a = adv[i] + (0.0 if tok_adv is None else tok_adv[i, t])
      r = s if cfg.ratio_level != "token" else np.exp(
          logp[i, t] - d["old"][i, t])
      clipped = min(max(r, 1 - cfg.eps_low), 1 + cfg.eps_high)
      l = min(r * a, clipped * a)
      if cfg.dual_clip and a < 0:
        add("dual_clip_sum", cfg.dual_clip * a > l)
        l = max(l, cfg.dual_clip * a)
      x = d["ref"][i, t] - logp[i, t]  # log(ref / pi)
      kl = {"k1": -x, "k2": x * x / 2, "k3": np.exp(x) - x - 1}
      tok = -l
      if cfg.beta and not cfg.kl_in_reward:
        tok += cfg.beta * kl[cfg.kl_estimator]
      if cfg.tis_cap:
        w = min(np.exp(d["old"][i, t] - d["sampler"][i, t]), cfg.tis_cap)
        add("tis_weight_sum", w)
        tok *= w
      row += tok
      rmin, rmax = min(rmin, r), max(rmax, r)
      add("ratio_sum", r)
      add("clip_low_sum", r < 1 - cfg.eps_low and a < 0)
      add("clip_high_sum", r > 1 + cfg.eps_high and a > 0)
      for k, v in kl.items():
        add(f"kl_{k}_sum", v)
      add("logp_diff_sum", abs(d["old"][i, t] - d["sampler"][i, t]))
    row_losses.append((row, n))
    total += row
  agg = cfg.aggregation
  if agg == "seq_mean":
    loss = sum(rl / n for rl, n in row_losses if n) / B
  elif agg in ("token_mean", "local_token_mean"):
    loss = total / ntok
  else:
    loss = total / (B * cfg.max_len)
  metrics = {k[:-4] + "_mean": v / ntok for k, v in sums.items()}
  metrics.update(ratio_min=rmin, ratio_max=rmax, tokens=ntok)
  return loss, metrics


# ----------------------------------------------------------------------------
# The module, used the way a trainer would (one micro-batch).
# ----------------------------------------------------------------------------
def _pad(x, mask, fill):
  """Garbage in padded positions: the loss must never read it."""
  return jnp.asarray(np.where(mask, x, fill), jnp.float32)


def _module_loss(cfg, d, logp=None, tok_adv=None):
  mask = d["mask"]
  logp = _pad(d["logp"], mask, -np.inf) if logp is None else logp
  adv_B = losses.advantages(jnp.asarray(d["rewards"], jnp.float32),
                            cfg.advantage, cfg.adv_eps).reshape(B)
  if tok_adv is not None:  # [B, T], NaN in padding
    adv_B = adv_B[:, None] + _pad(tok_adv, mask, np.nan)
  w = losses.token_weights(jnp.asarray(mask, jnp.int32), cfg.aggregation,
                           num_seqs=B, num_tokens=int(mask.sum()),
                           max_len=cfg.max_len)
  return losses.policy_loss(
      logp, _pad(d["old"], mask, np.nan), adv_B, jnp.asarray(mask, jnp.int32),
      w, cfg, ref_logp_BxT=_pad(d["ref"], mask, -np.inf),
      sampler_logp_BxT=_pad(d["sampler"], mask, np.nan))


CASES = {
    "grpo": ("grpo", {}),
    "dr_grpo": ("dr_grpo", dict(max_len=MAX_LEN)),
    "dapo": ("dapo", {}),
    "gspo": ("gspo", {}),
    "gspo_wide": ("gspo", dict(eps_low=0.05, eps_high=0.08)),
    "gspo_token": ("gspo", dict(ratio_level="sequence_token", eps_low=0.05,
                                eps_high=0.08)),
    "bnpo": ("bnpo", {}),
    "dual_clip": ("grpo", dict(dual_clip=1.5)),
    "k1": ("grpo", dict(kl_estimator="k1", beta=0.1)),
    "k2": ("grpo", dict(kl_estimator="k2", beta=0.1)),
    "kl_in_reward": ("grpo", dict(kl_in_reward=True)),
    "rloo": ("grpo", dict(advantage="rloo")),
    "batch_std": ("grpo", dict(advantage="batch_std")),
    "none": ("dapo", dict(advantage="none")),
    "tis": ("grpo", dict(tis_cap=1.3)),
}


def _cfg(name):
  preset, overrides = CASES[name]
  return losses.make_config(preset, **overrides)


@pytest.mark.parametrize("name", list(CASES))
def test_loss_and_metrics_match_numpy(name):
  cfg, d = _cfg(name), _data()
  want_loss, want = _np_loss(cfg, d)
  loss, aux = _module_loss(cfg, d)
  got = losses.finalize_aux(losses.reduce_aux([aux]))
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
  for k, v in want.items():
    np.testing.assert_allclose(got.pop(k), v, rtol=1e-5, atol=1e-6,
                               err_msg=k)
  assert not got, f"metrics without a reference: {sorted(got)}"


@pytest.mark.parametrize("name", ["grpo", "gspo_wide", "dual_clip", "tis"])
def test_per_token_advantage_matches_numpy(name):
  """A [B, T] advantage (the row's plus a per-token term, as on-policy
  distillation gives): loss, gradient and the clip metrics, which count
  each token by its own advantage's sign."""
  cfg, d = _cfg(name), _data()
  tok_adv = np.random.default_rng(1).normal(0.0, 1.5, (B, T))
  want_loss, want = _np_loss(cfg, d, tok_adv=tok_adv)
  loss, aux = _module_loss(cfg, d, tok_adv=tok_adv)
  got = losses.finalize_aux(losses.reduce_aux([aux]))
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
  for k, v in want.items():
    np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
  # Signs differ within rows, so the per-token clip counts differ from
  # the per-row ones.
  assert want["clip_high_mean"] != _np_loss(cfg, d)[1]["clip_high_mean"]
  logp = _pad(d["logp"], d["mask"], -np.inf)
  g = jax.grad(lambda lp: _module_loss(cfg, d, lp, tok_adv)[0])(logp)
  assert np.isfinite(np.asarray(g)).all()


def test_row_advantage_as_a_column_is_the_same_loss():
  cfg, d = _cfg("grpo"), _data()
  zeros = np.zeros((B, T))
  (l1, a1), (l2, a2) = _module_loss(cfg, d), _module_loss(cfg, d,
                                                          tok_adv=zeros)
  np.testing.assert_allclose(l1, l2, rtol=1e-6)
  for k in a1:
    np.testing.assert_allclose(a1[k], a2[k], rtol=1e-6, err_msg=k)
  with pytest.raises(ValueError, match=r"advantage of shape \(3,\)"):
    losses.policy_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.ones(3),
                       jnp.ones((2, 3)), jnp.ones((2, 3)),
                       losses.make_config("dapo"))


def test_distill_advantages_match_numpy():
  """coef * (teacher - student) at real tokens, 0 at padding (whatever
  the log-probs hold there), no gradient."""
  d = _data()
  teacher = d["ref"]
  got = grpo.distill_advantages(_pad(teacher, d["mask"], -np.inf),
                                _pad(d["logp"], d["mask"], np.nan),
                                jnp.asarray(d["mask"], jnp.int32), 0.5)
  want = np.zeros((B, T))
  for i in range(B):
    for t in range(LENGTHS[i]):
      want[i, t] = 0.5 * (teacher[i, t] - d["logp"][i, t])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  g = jax.grad(lambda s: grpo.distill_advantages(
      jnp.zeros((B, T)), s, jnp.ones((B, T)), 1.0).sum())(jnp.ones((B, T)))
  assert not np.asarray(g).any()


def test_data_exercises_every_branch():
  """The reference cases only prove something if each branch is taken."""
  _, m = _np_loss(_cfg("grpo"), _data())
  assert m["clip_low_mean"] > 0 and m["clip_high_mean"] > 0
  _, m = _np_loss(_cfg("dual_clip"), _data())
  assert m["dual_clip_mean"] > 0
  _, m = _np_loss(_cfg("tis"), _data())
  assert m["tis_weight_mean"] < m["ratio_mean"]  # some weights capped
  _, m = _np_loss(_cfg("gspo_wide"), _data())
  assert 0 < m["clip_low_mean"] + m["clip_high_mean"] < 0.7


@pytest.mark.parametrize("name", ["grpo", "gspo_wide", "gspo_token", "dapo",
                                  "dual_clip", "tis", "k2"])
def test_gradient_matches_finite_differences(name):
  cfg, d = _cfg(name), _data()
  logp = _pad(d["logp"], d["mask"], -np.inf)
  got = jax.grad(lambda lp: _module_loss(cfg, d, lp)[0])(logp)
  want = np.zeros((B, T))
  h = 1e-6
  for i in range(B):
    for t in range(LENGTHS[i]):
      lp = d["logp"].copy()
      lp[i, t] += h
      up = _np_loss(cfg, d, lp)[0]
      lp[i, t] -= 2 * h
      want[i, t] = (up - _np_loss(cfg, d, lp)[0]) / (2 * h)
  assert np.isfinite(np.asarray(got)).all()
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


def test_on_policy_gradient_is_advantage_times_weight():
  """old = sg(logp): r == 1, so d loss / d logp_it = -A_i * w_it."""
  cfg, d = losses.make_config("dapo"), _data()
  mask = jnp.asarray(d["mask"], jnp.int32)
  adv_B = losses.advantages(jnp.asarray(d["rewards"]), "group_std",
                            1e-4).reshape(B)
  w = losses.token_weights(mask, "token_mean", num_seqs=B,
                           num_tokens=mask.sum())

  def f(lp):
    return losses.policy_loss(lp, jax.lax.stop_gradient(lp), adv_B, mask, w,
                              cfg)[0]
  got = jax.grad(f)(jnp.asarray(d["logp"], jnp.float32))
  np.testing.assert_allclose(got, -adv_B[:, None] * w, rtol=1e-6, atol=1e-8)


def test_sequence_kl_is_the_sum_of_token_estimates():
  d = _data()
  got = losses.sequence_kl(_pad(d["logp"], d["mask"], -np.inf),
                           _pad(d["ref"], d["mask"], np.nan),
                           jnp.asarray(d["mask"]), "k3")
  want = [sum(np.exp(x) - x - 1 for x in (d["ref"][i, :n] - d["logp"][i, :n]))
          for i, n in enumerate(LENGTHS)]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_padding_never_reaches_loss_grad_or_metrics():
  """All ratios > 1 on real tokens; pads hold NaN/-inf (and would give 1)."""
  d = _data()
  d["old"] = d["logp"] - 0.5
  cfg = losses.make_config("grpo")
  loss, aux = _module_loss(cfg, d)
  np.testing.assert_allclose(aux["ratio_min"], np.exp(0.5), rtol=1e-6)
  assert np.isfinite(float(loss))
  # A micro-batch of padding only: zero loss and zero, finite gradient.
  mask = jnp.zeros((B, T), jnp.int32)
  nan = jnp.full((B, T), jnp.nan)
  f = lambda lp: losses.policy_loss(  # noqa: E731
      lp, nan, jnp.ones(B), mask, jnp.ones((B, T)), cfg, ref_logp_BxT=nan)
  lp = jnp.full((B, T), -jnp.inf)
  assert float(f(lp)[0]) == 0.0
  np.testing.assert_array_equal(jax.grad(lambda x: f(x)[0])(lp), 0.0)


# ----------------------------------------------------------------------------
# Micro-batch invariance with a tiny linear policy.
# ----------------------------------------------------------------------------
MB, MT, MD, MV = 8, 6, 5, 11
MB_LENGTHS = np.array([6, 1, 0, 4, 6, 2, 5, 3])  # Uneven token counts.


def _mb_data():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(MB, MT, MD))
  tokens = rng.integers(0, MV, (MB, MT))
  w0 = rng.normal(size=(MD, MV))
  logp0 = _linear_logp(jnp.asarray(w0, jnp.float32), x, tokens)
  return dict(
      x=jnp.asarray(x, jnp.float32), tokens=jnp.asarray(tokens),
      w=jnp.asarray(w0 + 0.3 * rng.normal(size=(MD, MV)), jnp.float32),
      old=logp0, ref=logp0 + jnp.asarray(rng.normal(0, .3, (MB, MT)),
                                         jnp.float32),
      rewards=jnp.asarray(rng.normal(size=(2, 4)), jnp.float32),
      mask=jnp.asarray(np.arange(MT)[None] < MB_LENGTHS[:, None], jnp.int32))


def _linear_logp(w, x, tokens):
  logp_BxTxV = jax.nn.log_softmax(jnp.einsum("btd,dv->btv", x, w), -1)
  return jnp.take_along_axis(logp_BxTxV, tokens[..., None], -1)[..., 0]


# Tiny programs: XLA's optimisation passes cost more than they save here.
@functools.partial(jax.jit, static_argnums=(0, 1), compiler_options={
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True})
def _split_loss(cfg, n_mb, w, data):
  """Sum of micro-batch losses, scanned as a trainer would."""
  b = data["mask"].shape[0]
  adv_B = losses.advantages(data["rewards"], cfg.advantage,
                            cfg.adv_eps).reshape(b)
  # Global totals, computed once over the whole batch (traced).
  num_tokens = data["mask"].sum()
  split = lambda x: x.reshape(n_mb, b // n_mb, *x.shape[1:])  # noqa: E731
  batch = {k: split(data[k]) for k in ("x", "tokens", "old", "ref", "mask")}
  batch["adv"] = split(adv_B)

  def loss_fn(w):
    def step(total, mb):
      weight = losses.token_weights(
          mb["mask"], cfg.aggregation, num_seqs=b, num_tokens=num_tokens,
          max_len=cfg.max_len, num_microbatches=n_mb)
      loss, aux = losses.policy_loss(
          _linear_logp(w, mb["x"], mb["tokens"]), mb["old"], mb["adv"],
          mb["mask"], weight, cfg, ref_logp_BxT=mb["ref"])
      return total + loss, aux
    total, aux = jax.lax.scan(step, 0.0, batch)
    return total, losses.finalize_aux(losses.reduce_aux(aux))
  return jax.value_and_grad(loss_fn, has_aux=True)(w)


@pytest.mark.parametrize("preset", ["grpo", "dr_grpo", "dapo", "gspo"])
def test_global_normalisers_do_not_depend_on_the_split(preset):
  cfg = losses.make_config(preset, max_len=MT)
  if preset == "gspo":  # Narrow clip zeroes most of the gradient.
    cfg = dataclasses.replace(cfg, eps_low=0.1, eps_high=0.1)
  data = _mb_data()
  (loss1, aux1), grad1 = _split_loss(cfg, 1, data["w"], data)
  assert float(jnp.abs(grad1).max()) > 1e-3
  for n_mb in (2, 4):
    (loss, aux), grad = _split_loss(cfg, n_mb, data["w"], data)
    np.testing.assert_allclose(loss, loss1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, grad1, rtol=1e-5, atol=1e-7)
    for k in aux1:
      np.testing.assert_allclose(aux[k], aux1[k], rtol=1e-5, err_msg=k)


def test_bnpo_depends_on_the_split():
  """BNPO normalises by the micro-batch's own token count, so uneven
  micro-batches weight tokens differently: kept only as a named preset to
  compare against, never as a default."""
  cfg = losses.make_config("bnpo")
  data = _mb_data()
  (loss1, _), grad1 = _split_loss(cfg, 1, data["w"], data)
  (loss2, _), grad2 = _split_loss(cfg, 2, data["w"], data)
  assert abs(float(loss2 - loss1)) > 1e-3 * abs(float(loss1))
  assert not np.allclose(grad1, grad2, rtol=1e-3)
  # Two micro-batches give the mean of each half's own token mean.
  halves = [{k: v[4 * h:4 * h + 4] if k != "w" else v
             for k, v in data.items()} for h in (0, 1)]
  for h, half in enumerate(halves):
    half["rewards"] = data["rewards"][h:h + 1]
  want = sum(_split_loss(cfg, 1, data["w"], half)[0][0] for half in halves)
  np.testing.assert_allclose(loss2, want / 2, rtol=1e-5)


# ----------------------------------------------------------------------------
# Config.
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("preset,overrides,field", [
    ("nope", {}, "nope"),
    ("grpo", dict(bogus=1), "bogus"),
    ("grpo", dict(aggregation="mean"), "aggregation"),
    ("grpo", dict(ratio_level="seq"), "ratio_level"),
    ("grpo", dict(advantage="std"), "advantage"),
    ("grpo", dict(kl_estimator="k4"), "kl_estimator"),
    ("dr_grpo", {}, "max_len"),
    ("grpo", dict(dual_clip=0.5), "dual_clip"),
    ("grpo", dict(dual_clip=1.0), "dual_clip"),
    ("grpo", dict(eps_low=-0.1), "eps_low"),
])
def test_config_errors_name_the_field(preset, overrides, field):
  with pytest.raises(ValueError, match=field):
    losses.make_config(preset, **overrides)


def test_presets_are_the_published_recipes():
  c = losses.make_config("grpo")
  assert (c.ratio_level, c.eps_low, c.eps_high, c.aggregation, c.advantage,
          c.beta, c.kl_estimator, c.kl_in_reward) == (
              "token", 0.2, 0.2, "seq_mean", "group_std", 0.04, "k3", False)
  c = losses.make_config("dr_grpo", max_len=128)
  assert (c.advantage, c.aggregation, c.beta) == ("group", "constant", 0.0)
  c = losses.make_config("dapo")
  assert (c.eps_low, c.eps_high, c.aggregation, c.beta) == (
      0.2, 0.28, "token_mean", 0.0)
  c = losses.make_config("gspo")
  assert (c.ratio_level, c.eps_low, c.eps_high, c.aggregation) == (
      "sequence", 3e-4, 4e-4, "seq_mean")
  assert losses.make_config("bnpo").aggregation == "local_token_mean"
  assert set(grpo.PRESETS) == {"grpo", "dr_grpo", "dapo", "gspo", "bnpo"}


def test_missing_inputs_are_errors():
  z = jnp.zeros((2, 3))
  ones = jnp.ones((2, 3))
  with pytest.raises(ValueError, match="ref_logp"):
    losses.policy_loss(z, z, jnp.ones(2), ones, ones,
                       losses.make_config("grpo"))
  with pytest.raises(ValueError, match="sampler_logp"):
    losses.policy_loss(z, z, jnp.ones(2), ones, ones,
                       losses.make_config("dapo", tis_cap=2.0))


@pytest.mark.parametrize("kind", ["group_std", "group", "batch_std", "rloo",
                                  "none"])
def test_advantages_of_valid_samples_only(kind):
  """Invalid samples (no reward) get 0 and leave every statistic as if the
  group held the valid samples alone (numpy on the valid subset)."""
  rng = np.random.default_rng(0)
  r = rng.normal(size=(3, 5)).astype(np.float32)
  valid = np.ones((3, 5), bool)
  valid[0, 1] = valid[1, [0, 4]] = False
  valid[2, :4] = False  # a single valid sample
  got = np.asarray(grpo.advantages(jnp.asarray(np.where(valid, r, 7.0)),
                                   kind, 1e-4, jnp.asarray(valid)))
  vals = [r[p][valid[p]] for p in range(3)]
  everything = np.concatenate(vals)
  for p in range(3):
    x = vals[p]
    want = {"group_std": (x - x.mean()) / (x.std() + 1e-4),
            "group": x - x.mean(),
            "batch_std": (x - x.mean()) / (everything.std() + 1e-4),
            "rloo": (x - x.mean()) * (len(x) / (len(x) - 1)
                                      if len(x) > 1 else 0.0),
            "none": x}[kind]
    np.testing.assert_allclose(got[p][valid[p]], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[p][~valid[p]], 0.0)
  # All valid: the unmasked advantages.
  np.testing.assert_allclose(
      np.asarray(grpo.advantages(jnp.asarray(r), kind, 1e-4,
                                 jnp.ones((3, 5), bool))),
      np.asarray(grpo.advantages(jnp.asarray(r), kind, 1e-4)), rtol=1e-6)
