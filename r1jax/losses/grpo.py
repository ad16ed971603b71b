"""The GRPO loss family, built from fields rather than one fixed formula.

Shapes: P prompts, G samples per prompt, B = P*G rows, T completion tokens.
Per token, with r_it = pi_theta / pi_old and the advantage A_it (the row's
A_i, or A_i plus a per-token term such as `distill_advantages`):

  l_it = min(r_it * A_it, clip(r_it, 1 - eps_low, 1 + eps_high) * A_it)
  (dual clip, A_it < 0: l_it = max(l_it, c * A_it))
  loss_it = tis_it * (-l_it + beta * KL_it)

and the loss is sum_it loss_it * w_it with `token_weights` w. The weights use
totals over the whole rollout batch (all micro-batches and devices), so the
sum over micro-batches does not depend on how the batch is split; only
"local_token_mean" (BNPO) does, by design. See ANCHORS.md "The loss".

With one update per rollout batch the caller passes
old_logp = stop_gradient(logp): r == 1 and the gradient is A * grad logp.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

RATIO_LEVELS = ("token", "sequence", "sequence_token")
AGGREGATIONS = ("seq_mean", "token_mean", "constant", "local_token_mean")
ADVANTAGES = ("group_std", "group", "batch_std", "rloo", "none")
KL_ESTIMATORS = ("k1", "k2", "k3")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LossConfig:
  """Fields of the policy loss; `PRESETS` names the published combinations."""
  # "token": r_it per token (GRPO/PPO). "sequence": GSPO, one ratio per row
  # s_i = exp(mean_t log r_it). "sequence_token": GSPO-token,
  # s_it = sg(s_i) * exp(logp_it - sg(logp_it)) (value s_i, per-token grad).
  ratio_level: str = "token"
  eps_low: float = 0.2
  eps_high: float = 0.2
  # 0: off. c > 1: for A < 0 the objective is max(min(rA, clip(r)A), cA).
  dual_clip: float = 0.0
  # "seq_mean": token mean per row, then mean over rows (GRPO paper).
  # "token_mean": sum over all tokens / global token count (DAPO).
  # "constant": sum / (num_seqs * max_len) (Dr. GRPO).
  # "local_token_mean": token mean per micro-batch (BNPO; depends on the
  # micro-batch size, kept only for comparison).
  aggregation: str = "seq_mean"
  max_len: int = 0  # L_max of "constant"; must be > 0 then.
  # "group_std": (R - mean_G) / (std_G + eps); "group": R - mean_G;
  # "batch_std": (R - mean_G) / (std over the batch + eps);
  # "rloo": R_i - mean_{j != i} R_j; "none": R. std is population (ddof=0).
  advantage: str = "group_std"
  adv_eps: float = 1e-4
  beta: float = 0.04  # KL coefficient; 0: reference log-probs not needed.
  kl_estimator: str = "k3"  # Of KL(pi || ref) from samples of pi.
  # True: the trainer subtracts beta * sequence_kl from the reward instead.
  kl_in_reward: bool = False
  # 0: off. > 0: token loss times min(pi_old / pi_sampler, cap), no gradient.
  tis_cap: float = 0.0

  def __post_init__(self):
    self.validate()

  def validate(self):
    """Raises ValueError naming the bad field and its allowed values."""
    for name, allowed in (("ratio_level", RATIO_LEVELS),
                          ("aggregation", AGGREGATIONS),
                          ("advantage", ADVANTAGES),
                          ("kl_estimator", KL_ESTIMATORS)):
      if getattr(self, name) not in allowed:
        raise ValueError(f"LossConfig.{name}={getattr(self, name)!r}; "
                         f"allowed: {', '.join(allowed)}")
    for name in ("eps_low", "eps_high", "beta", "adv_eps", "tis_cap"):
      if getattr(self, name) < 0:
        raise ValueError(f"LossConfig.{name}={getattr(self, name)} must be "
                         ">= 0")
    if self.dual_clip != 0.0 and self.dual_clip <= 1.0:
      raise ValueError(f"LossConfig.dual_clip={self.dual_clip} must be 0 "
                       "(off) or > 1")
    if self.aggregation == "constant" and self.max_len <= 0:
      raise ValueError(f"LossConfig.max_len={self.max_len} must be > 0 with "
                       "aggregation='constant'")


# Every preset states the fields its paper fixes, so that changing a default
# above never changes a named recipe.
_OFF = dict(dual_clip=0.0, kl_in_reward=False, tis_cap=0.0)
PRESETS: dict[str, dict] = {
    # DeepSeekMath / R1: token ratio, per-sequence mean, k3 KL in the loss.
    "grpo": dict(ratio_level="token", eps_low=0.2, eps_high=0.2,
                 aggregation="seq_mean", advantage="group_std", beta=0.04,
                 kl_estimator="k3", **_OFF),
    # Dr. GRPO: no std, constant normaliser (pass max_len), no KL.
    "dr_grpo": dict(ratio_level="token", eps_low=0.2, eps_high=0.2,
                    aggregation="constant", advantage="group", beta=0.0,
                    **_OFF),
    # DAPO: clip-higher, global token mean, no KL.
    "dapo": dict(ratio_level="token", eps_low=0.2, eps_high=0.28,
                 aggregation="token_mean", advantage="group_std", beta=0.0,
                 **_OFF),
    # GSPO: sequence ratio with a narrow clip range.
    "gspo": dict(ratio_level="sequence", eps_low=3e-4, eps_high=4e-4,
                 aggregation="seq_mean", advantage="group_std", beta=0.0,
                 **_OFF),
    # BNPO-style local token mean (micro-batch dependent; for comparison).
    "bnpo": dict(ratio_level="token", eps_low=0.2, eps_high=0.2,
                 aggregation="local_token_mean", advantage="group_std",
                 beta=0.0, **_OFF),
}


def make_config(preset: str, **overrides) -> LossConfig:
  """A validated preset, with field overrides."""
  if preset not in PRESETS:
    raise ValueError(f"unknown loss preset {preset!r}; allowed: "
                     f"{', '.join(PRESETS)}")
  fields = {f.name for f in dataclasses.fields(LossConfig)}
  for name in overrides:
    if name not in fields:
      raise ValueError(f"unknown LossConfig field {name!r}; allowed: "
                       f"{', '.join(sorted(fields))}")
  return LossConfig(**{**PRESETS[preset], **overrides})


def advantages(rewards_PxG, kind: str, eps: float, valid_PxG=None):
  """Per-sample advantages [P, G] (see `LossConfig.advantage`).

  std is the population std (ddof=0), as numpy's default; TRL uses ddof=1,
  which for G samples is larger by sqrt(G / (G - 1)).
  valid_PxG: samples that have a reward (None: all). The others (e.g. a
  program the sandbox could not run) get advantage 0 and leave every
  statistic as if the group were the valid samples alone.
  """
  r_PxG = rewards_PxG.astype(jnp.float32)
  v_PxG = (jnp.ones(r_PxG.shape, jnp.float32) if valid_PxG is None
           else valid_PxG.astype(jnp.float32))
  r_PxG = r_PxG * v_PxG
  n_P = v_PxG.sum(-1)
  mean_P = r_PxG.sum(-1) / jnp.maximum(n_P, 1.0)
  centred_PxG = (r_PxG - mean_P[:, None]) * v_PxG
  if kind == "group_std":
    std_P = jnp.sqrt((centred_PxG ** 2).sum(-1) / jnp.maximum(n_P, 1.0))
    return centred_PxG / (std_P + eps)[:, None]
  if kind == "group":
    return centred_PxG
  if kind == "batch_std":
    n = jnp.maximum(v_PxG.sum(), 1.0)
    mean = r_PxG.sum() / n
    std = jnp.sqrt((((r_PxG - mean) * v_PxG) ** 2).sum() / n)
    return centred_PxG / (std + eps)
  if kind == "rloo":
    g = r_PxG.shape[-1]
    if g < 2:
      raise ValueError(f"advantage='rloo' needs G >= 2 samples, got {g}")
    # R_i - mean_{j != i} R_j = n / (n - 1) * (R_i - mean_n) over the n
    # valid samples (0 when fewer than two).
    scale_P = jnp.where(n_P > 1, n_P / jnp.maximum(n_P - 1, 1.0), 0.0)
    return centred_PxG * scale_P[:, None]
  if kind == "none":
    return r_PxG
  raise ValueError(f"advantage={kind!r}; allowed: {', '.join(ADVANTAGES)}")


def kl_per_token(logp_BxT, ref_logp_BxT, estimator: str):
  """Schulman's estimators of KL(pi || ref) at tokens sampled from pi."""
  d_BxT = ref_logp_BxT - logp_BxT  # log(ref / pi)
  if estimator == "k1":
    return -d_BxT
  if estimator == "k2":
    return 0.5 * jnp.square(d_BxT)
  if estimator == "k3":
    return jnp.expm1(d_BxT) - d_BxT
  raise ValueError(f"kl_estimator={estimator!r}; allowed: "
                   f"{', '.join(KL_ESTIMATORS)}")


def sequence_kl(logp_BxT, ref_logp_BxT, mask_BxT, estimator: str):
  """Per-row KL [B]: the sum of token estimates (for kl_in_reward)."""
  m = mask_BxT.astype(bool)
  kl_BxT = kl_per_token(jnp.where(m, logp_BxT, 0.0),
                        jnp.where(m, ref_logp_BxT, 0.0), estimator)
  return jnp.where(m, kl_BxT, 0.0).sum(-1)


def distill_advantages(teacher_logp_BxT, student_logp_BxT, mask_BxT,
                       coef: float):
  """Per-token on-policy distillation advantage [B, T], no gradient.

  coef * (log pi_teacher - log pi_student) at the student's sampled tokens,
  0 at padding: the negative per-token k1 estimate of KL(student ||
  teacher), so the policy gradient with it minimises the reverse KL (GKD,
  Thinking Machines' on-policy distillation). Both log-probs at the
  sampling temperature: a teacher equal to the student gives exactly 0.
  """
  m = mask_BxT.astype(bool)
  d_BxT = (teacher_logp_BxT.astype(jnp.float32)
           - student_logp_BxT.astype(jnp.float32))
  return jax.lax.stop_gradient(jnp.where(m, coef * d_BxT, 0.0))


def token_weights(mask_BxT, aggregation: str, *, num_seqs, num_tokens,
                  max_len=0, num_microbatches=1):
  """w [B, T] with loss = sum(per_token_loss * w) for one micro-batch.

  num_seqs and num_tokens are totals over the whole rollout batch (every
  micro-batch and device; may be traced), so for the global aggregations the
  sum of micro-batch losses equals the whole-batch loss. Zero-length rows
  count in num_seqs and contribute nothing.
  """
  m_BxT = mask_BxT.astype(jnp.float32)
  if aggregation == "seq_mean":
    len_B = jnp.maximum(m_BxT.sum(-1), 1.0)
    return m_BxT / (len_B * num_seqs)[:, None]
  if aggregation == "token_mean":
    return m_BxT / jnp.maximum(num_tokens, 1)
  if aggregation == "constant":
    if max_len <= 0:
      raise ValueError(f"max_len={max_len} must be > 0 for 'constant'")
    return m_BxT / (num_seqs * max_len)
  if aggregation == "local_token_mean":
    return m_BxT / (jnp.maximum(m_BxT.sum(), 1.0) * num_microbatches)
  raise ValueError(f"aggregation={aggregation!r}; allowed: "
                   f"{', '.join(AGGREGATIONS)}")


def policy_loss(logp_BxT, old_logp_BxT, adv, mask_BxT, weight_BxT,
                cfg: LossConfig, *, ref_logp_BxT=None, sampler_logp_BxT=None):
  """(loss, aux) for one micro-batch.

  adv is one advantage per row [B] or one per token [B, T] (a row's group
  advantage plus a per-token term); weight_BxT comes from `token_weights`.
  aux holds, over real tokens only, "*_sum" values (tokens, ratio, clip_low
  for r < 1 - eps_low with A_it < 0, clip_high for r > 1 + eps_high with
  A_it > 0,
  dual_clip, kl_k1/k2/k3 when ref is given, logp_diff = |old - sampler| when
  sampler is given, tis_weight) and "ratio_min"/"ratio_max", to be combined
  by `reduce_aux`. A sequence-level ratio counts once per token of its row.
  """
  use_kl = cfg.beta > 0 and not cfg.kl_in_reward
  if use_kl and ref_logp_BxT is None:
    raise ValueError("beta > 0 with kl_in_reward=False needs ref_logp_BxT")
  if cfg.tis_cap > 0 and sampler_logp_BxT is None:
    raise ValueError("tis_cap > 0 needs sampler_logp_BxT")
  m = mask_BxT.astype(bool)
  # Padded positions may hold -inf or NaN; replace them before any arithmetic
  # so neither the value nor the gradient (0 * inf) can pick them up.
  clean = lambda x: jnp.where(m, x.astype(jnp.float32), 0.0)  # noqa: E731
  logp, old = clean(logp_BxT), clean(old_logp_BxT)
  adv = jnp.asarray(adv, jnp.float32)
  if adv.ndim not in (1, 2) or adv.shape != m.shape[:adv.ndim]:
    raise ValueError(f"advantage of shape {adv.shape}: expected [B] or "
                     f"[B, T] with [B, T] = {m.shape}")
  # [B, 1] broadcasts a row's advantage; [B, T] gives each token its own
  # (and its own sign in the clip metrics), padding cleaned as above.
  a_BxT = adv[:, None] if adv.ndim == 1 else clean(adv)

  # (1) RATIO
  log_r_BxT = logp - old
  if cfg.ratio_level != "token":
    len_B = jnp.maximum(m.sum(-1), 1).astype(jnp.float32)
    seq_log_r_B = log_r_BxT.sum(-1) / len_B
    if cfg.ratio_level == "sequence":
      log_r_BxT = jnp.broadcast_to(seq_log_r_B[:, None], m.shape)
    else:  # sequence_token: value of s_i, gradient of each token's logp.
      log_r_BxT = (jax.lax.stop_gradient(seq_log_r_B)[:, None] + logp -
                   jax.lax.stop_gradient(logp))
  r_BxT = jnp.exp(log_r_BxT)

  # (2) CLIPPED OBJECTIVE
  clipped_BxT = jnp.clip(r_BxT, 1.0 - cfg.eps_low, 1.0 + cfg.eps_high)
  obj_BxT = jnp.minimum(r_BxT * a_BxT, clipped_BxT * a_BxT)
  if cfg.dual_clip > 0:
    dual_on_BxT = (a_BxT < 0) & (cfg.dual_clip * a_BxT > obj_BxT)
    obj_BxT = jnp.where(dual_on_BxT, cfg.dual_clip * a_BxT, obj_BxT)
  tok_loss_BxT = -obj_BxT

  # (3) KL AND IMPORTANCE CORRECTION
  if ref_logp_BxT is not None:
    ref = clean(ref_logp_BxT)
    kls = {e: kl_per_token(logp, ref, e) for e in KL_ESTIMATORS}
    if use_kl:
      tok_loss_BxT = tok_loss_BxT + cfg.beta * kls[cfg.kl_estimator]
  if sampler_logp_BxT is not None:
    old_minus_sampler_BxT = old - clean(sampler_logp_BxT)
  if cfg.tis_cap > 0:
    tis_BxT = jax.lax.stop_gradient(
        jnp.minimum(jnp.exp(old_minus_sampler_BxT), cfg.tis_cap))
    tok_loss_BxT = tok_loss_BxT * tis_BxT

  # (4) AGGREGATION
  loss = jnp.where(m, tok_loss_BxT * weight_BxT, 0.0).sum()

  # (5) METRICS: sums over real tokens, reduced across micro-batches later.
  sg = jax.lax.stop_gradient
  msum = lambda x: jnp.where(m, sg(x), 0.0).sum()  # noqa: E731
  r = sg(r_BxT)
  aux = {
      "tokens_sum": m.sum().astype(jnp.float32),
      "ratio_sum": msum(r),
      "ratio_min": jnp.where(m, r, jnp.inf).min(),
      "ratio_max": jnp.where(m, r, -jnp.inf).max(),
      "clip_low_sum": msum((r < 1.0 - cfg.eps_low) & (a_BxT < 0)),
      "clip_high_sum": msum((r > 1.0 + cfg.eps_high) & (a_BxT > 0)),
  }
  if cfg.dual_clip > 0:
    aux["dual_clip_sum"] = msum(dual_on_BxT)
  if ref_logp_BxT is not None:
    for e, kl_BxT in kls.items():
      aux[f"kl_{e}_sum"] = msum(kl_BxT)
  if sampler_logp_BxT is not None:
    aux["logp_diff_sum"] = msum(jnp.abs(old_minus_sampler_BxT))
  if cfg.tis_cap > 0:
    aux["tis_weight_sum"] = msum(tis_BxT)
  return loss, aux


def reduce_aux(aux):
  """Combines micro-batch aux: a list of dicts or one dict stacked on axis 0.

  "_sum" keys add, "_min"/"_max" keys take the min/max. Scalars (an already
  reduced dict) pass through.
  """
  if isinstance(aux, (list, tuple)):
    aux = jax.tree.map(lambda *xs: jnp.stack(xs), *aux)
  out = {}
  for k, v in aux.items():
    v = jnp.asarray(v)
    if v.ndim == 0:
      out[k] = v
    elif k.endswith("_min"):
      out[k] = v.min(0)
    elif k.endswith("_max"):
      out[k] = v.max(0)
    else:
      out[k] = v.sum(0)
  return out


def finalize_aux(aux):
  """Per-token means: x_sum / tokens_sum as x_mean; min/max and tokens kept."""
  tokens = aux["tokens_sum"]
  out = {"tokens": tokens}
  for k, v in aux.items():
    if k == "tokens_sum":
      continue
    if k.endswith("_sum"):
      out[k[:-len("_sum")] + "_mean"] = v / jnp.maximum(tokens, 1.0)
    else:
      out[k] = v
  return out
