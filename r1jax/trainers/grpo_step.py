"""One GRPO step as pure functions, traced into ONE compiled program.

  ROLLOUT (sampler) -> REWARDS (jnp) -> ADVANTAGES -> UPDATES (mu epochs x
  minibatches x micro-batches, all `lax.scan`)

`make_rl_step(spec, tx)` returns `rl_step(state, frozen, batch, rng)`
for jitting with the state donated. With host rewards (math-verify) the
same pieces run as two programs: `make_rollout` then `make_learn`, with the
rewards computed in Python in between.

`frozen` holds the models the step reads but never optimizes, as one
pytree argument (never constants of the program, never optimizer state):
{"ref": reference params or None (needed when loss.beta > 0), "teacher":
teacher params or None (needed when distill_coef > 0)}.

On-policy distillation (distill_coef > 0): the teacher scores the student's
own samples in one prefill, and coef * (log pi_teacher - log pi_old) per
token is added to the row's group advantage (`grpo_loss.
distill_advantages`), through the same clipped loss.

Letters: P prompts, G group size, B = P * G rows, T prompt length, M max
new tokens, S = T + M, V vocab, n micro-batches.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from r1jax.losses import chunked
from r1jax.losses import grpo as grpo_loss
from r1jax.losses import sft as sft_loss
from r1jax.models.transformer import ModelConfig, Transformer, output_head
from r1jax.rewards import combiner
from r1jax.rewards.device import combine
from r1jax.rewards.device import judge as judge_dev
from r1jax.rewards.device import model_rewards
from r1jax.sampling import sampler
from r1jax.sampling.strategies import Sampling
from r1jax.trainers import common
from r1jax.trainers import train_state


@dataclasses.dataclass(frozen=True)
class JudgeSpec:
  """The judge reward's static parts: the judge's model and prompt pieces
  (`rewards.device.judge.Pieces`)."""
  cfg: ModelConfig
  pieces: judge_dev.Pieces


@dataclasses.dataclass(frozen=True, kw_only=True)
class RLSpec:
  """Static shape and algorithm choices of the RL step (hashable)."""
  cfg: ModelConfig
  num_prompts: int  # P per update batch (after dynamic sampling)
  group: int  # G
  max_new_tokens: int  # M
  sampling: Sampling
  stop_ids: tuple[int, ...]
  pad_id: int
  loss: grpo_loss.LossConfig
  updates_per_batch: int = 1  # mu
  minibatches: int = 1
  microbatches: int = 1
  rollout_chunks: int = 1  # the rollout sampled in this many prompt chunks
  mask_truncated: bool = False
  truncated_reward: float | None = None
  dynamic_sampling: bool = False
  cache_dtype: Any = None
  rewards: combine.DeviceRewardSpec | None = None  # None: host rewards
  # On-policy distillation: weight of the per-token advantage coef *
  # (teacher logp - old logp) of the sampled tokens; 0 = off.
  distill_coef: float = 0.0
  # The teacher's model (any size or architecture sharing the tokenizer);
  # required when distill_coef > 0.
  teacher_cfg: ModelConfig | None = None
  # Reward models scoring the rollout (params in frozen["reward_models"]).
  reward_models: tuple[model_rewards.ModelRewardSpec, ...] = ()
  # The generative judge of the `judge` reward (frozen["judge"]); None =
  # no judge.
  judge: JudgeSpec | None = None

  def __post_init__(self):
    if self.distill_coef < 0:
      raise ValueError(f"RLSpec.distill_coef={self.distill_coef} must be "
                       ">= 0")
    if self.distill_coef > 0 and self.teacher_cfg is None:
      raise ValueError("RLSpec.distill_coef > 0 needs teacher_cfg")

  @property
  def distills(self) -> bool:
    return self.distill_coef > 0

  @property
  def needs_old(self) -> bool:
    """Learner log-probs at the rollout params, before any update."""
    lc = self.loss
    return (self.updates_per_batch > 1 or self.minibatches > 1
            or (lc.kl_in_reward and lc.beta > 0) or lc.tis_cap > 0
            or self.distills)

  @property
  def needs_ref(self) -> bool:
    return self.loss.beta > 0


def _reduce(stacked: dict) -> dict:
  """Reduces per-micro-batch aux over the leading axis by key suffix."""
  out = {}
  for k, v in stacked.items():
    out[k] = (v.min(0) if k.endswith("_min") else v.max(0)
              if k.endswith("_max") else v.sum(0))
  return out


# Prompt + completion rows: (tokens, segment ids, positions) [B, S].
sequences = model_rewards.sequences


def completion_logp(params, cfg: ModelConfig, tokens_BxS, seg_BxS, pos_BxS,
                    m: int, temperature: float):
  """(logp_BxM, entropy_BxM) of the last M tokens, at `temperature`.

  With cfg.logits_chunk > 0 the lm head runs on that many positions at a
  time (losses/chunked.py): no [B, M, V] logits.
  """
  if cfg.logits_chunk:
    x_BxMxD, _ = Transformer(cfg).apply(
        {"params": params}, tokens_BxS, pos_BxS, seg_BxS, num_logits=m + 1,
        return_hidden=True)
    head, spec = output_head(params, cfg)
    st = chunked.token_stats(x_BxMxD[:, :-1], head, spec, tokens_BxS[:, -m:],
                             cfg.logits_chunk, dtype=cfg.dtype,
                             temperature=temperature, entropy=True)
    return st["logp"], st["entropy"]
  logits, _ = Transformer(cfg).apply({"params": params}, tokens_BxS, pos_BxS,
                                     seg_BxS, num_logits=m + 1)
  logits_BxMxV = logits[:, :-1] / temperature
  logp = sft_loss.token_logp(logits_BxMxV, tokens_BxS[:, -m:])
  lse = jax.nn.logsumexp(logits_BxMxV, axis=-1, keepdims=True)
  p = jnp.exp(logits_BxMxV - lse)
  entropy = lse[..., 0] - jnp.sum(p * logits_BxMxV, axis=-1)
  return logp, jax.lax.stop_gradient(entropy)


def make_rollout(spec: RLSpec):
  """rollout(params, prompts_PxT, pmask_PxT, rng) -> Completions.

  With rollout_chunks = n > 1 the prompts are sampled n chunks at a time
  (`lax.map`, so the KV cache holds one chunk): chunk i takes prompts i,
  i + n, ... (`split_rows`, so every chunk spans all devices), and the rows
  come back prompt-major as with n = 1.
  """
  def one(params, prompts_PxT, pmask_PxT, rng):
    return sampler.sample(
        params, spec.cfg, prompts_PxT, pmask_PxT, rng,
        max_new_tokens=spec.max_new_tokens, sampling=spec.sampling,
        stop_ids=spec.stop_ids, num_samples=spec.group, pad_id=spec.pad_id,
        cache_dtype=spec.cache_dtype)

  def rollout(params, prompts_PxT, pmask_PxT, rng):
    n = spec.rollout_chunks
    if n == 1:
      return one(params, prompts_PxT, pmask_PxT, rng)
    chunks = (common.split_rows(prompts_PxT, n),
              common.split_rows(pmask_PxT, n), jax.random.split(rng, n))
    out = jax.lax.map(lambda x: one(params, *x), chunks)
    p = prompts_PxT.shape[0]

    def merge(x):  # [n, P/n * G, ...] -> [P * G, ...], prompt-major
      x = x.reshape(n, p // n, spec.group, *x.shape[2:])
      return jnp.swapaxes(x, 0, 1).reshape(p * spec.group, *x.shape[3:])
    return jax.tree.map(merge, out)
  return rollout


def _select_groups(spec: RLSpec, rewards_PxG):
  """Dynamic sampling with static shapes: the first P groups whose rewards
  are not all equal; missing ones are masked. (idx_P, valid_P)."""
  p_o = rewards_PxG.shape[0]
  keep_P = rewards_PxG.std(axis=1) > 0
  if not spec.dynamic_sampling:
    return jnp.arange(p_o), jnp.ones((p_o,), bool)
  order = jnp.argsort(jnp.where(keep_P, 0, 1) * p_o + jnp.arange(p_o))
  idx_P = order[:spec.num_prompts]
  return idx_P, keep_P[idx_P]


def _logp_scan(params, spec: RLSpec, rows: dict, n: int,
               cfg: ModelConfig | None = None):
  """Log-probs of all rows' completions, n micro-batches at a time, no
  grad, at the sampling temperature; the learner's unless `cfg` (and
  `params`) are another model's (the teacher)."""
  def body(_, mb):
    logp, _ = completion_logp(params, cfg or spec.cfg, mb["tokens"],
                              mb["seg"], mb["pos"], spec.max_new_tokens,
                              spec.sampling.temperature)
    return None, jax.lax.stop_gradient(logp)
  split = {k: common.split_rows(rows[k], n)
           for k in ("tokens", "seg", "pos")}
  _, logp = jax.lax.scan(body, None, split)
  b = rows["tokens"].shape[0]
  return jnp.swapaxes(logp, 0, 1).reshape(b, -1)  # undo split_rows


# The models a step reads and never optimizes (one `frozen` argument).
FROZEN_KEYS = ("ref", "teacher", "reward_models", "judge")


def scored_models(spec: RLSpec, frozen, prompts_PxT, pmask_PxT, comp,
                  tags, step, scopes=()) -> dict:
  """{name: float32[B]}: each reward model's normalised scores of the
  rollout; a model whose scope starts later is skipped (`lax.cond`) until
  `step` reaches its start_step (R1 adds preference rewards late)."""
  rms = (frozen or {}).get("reward_models") or {}
  missing = {s.name for s in spec.reward_models} - set(rms)
  if missing:
    raise ValueError(f"frozen['reward_models'] lacks {sorted(missing)}")
  scopes, out = dict(scopes), {}
  for s in spec.reward_models:
    def run(s=s):
      return model_rewards.model_reward(
          rms[s.name], s, prompts_PxT, pmask_PxT, comp.tokens_BxM,
          comp.mask_BxM, spec.group, tags)
    start = (scopes.get(s.name) or combiner.Scope()).start_step
    if start > 0:
      zeros = jnp.zeros(comp.tokens_BxM.shape[:1], jnp.float32)
      out[s.name] = jax.lax.cond(jnp.asarray(step) >= start, run,
                                 lambda: zeros)
    else:
      out[s.name] = run()
  return out


def judged(spec: RLSpec, frozen, batch, comp):
  """float32[B]: the judge's verdict on each rollout row, from the
  batch's bare question and reference tokens (`question`, `qmask`,
  `reference`, `rmask`, [P, ...]); NaN where no verdict could be read
  (left out of the reward and counted by the combiner)."""
  j = (frozen or {}).get("judge")
  if j is None:
    raise ValueError("the judge reward needs frozen['judge'] = {'params', "
                     "'chars'}")
  out = judge_dev.judge(j["params"], spec.judge.cfg, spec.judge.pieces,
                        j["chars"], batch["question"], batch["qmask"],
                        comp.tokens_BxM, comp.mask_BxM, batch["reference"],
                        batch["rmask"])
  return jnp.where(out.ok_B, out.value_B, jnp.nan)


def _frozen_params(spec: RLSpec, frozen) -> tuple:
  """(ref, teacher) params from the `frozen` dict; a clear error at trace
  time when one the spec needs is missing."""
  frozen = frozen or {}
  unknown = set(frozen) - set(FROZEN_KEYS)
  if unknown:
    raise ValueError(f"frozen has keys {sorted(unknown)}; allowed: "
                     f"{FROZEN_KEYS}")
  ref, teacher = frozen.get("ref"), frozen.get("teacher")
  if spec.needs_ref and ref is None:
    raise ValueError("loss.beta > 0 needs frozen['ref'] (reference params)")
  if spec.distills and teacher is None:
    raise ValueError("distill_coef > 0 needs frozen['teacher'] (teacher "
                     "params)")
  return ref, teacher


def make_learn(spec: RLSpec, tx):
  """learn(state, frozen, prompts, pmask, comp, rewards_B, rng)."""
  lc, g, m = spec.loss, spec.group, spec.max_new_tokens
  n_mini, n_micro = spec.minibatches, spec.microbatches

  def learn(state, frozen, prompts_PxT, pmask_PxT, comp, rewards_B, rng):
    ref_params, teacher_params = _frozen_params(spec, frozen)
    p_o = prompts_PxT.shape[0]
    # 1. GROUPS: truncation options, dynamic sampling. A NaN reward: the
    # row has no score (host rewards: the sandbox could not run its
    # program); it takes no part in the loss nor in its group's statistics.
    scored_B = ~jnp.isnan(rewards_B)
    rewards_B = jnp.where(scored_B, rewards_B, 0.0)
    r_PxG = rewards_B.reshape(p_o, g)
    trunc_PxG = comp.truncated_B.reshape(p_o, g)
    if spec.truncated_reward is not None:
      r_PxG = jnp.where(trunc_PxG, spec.truncated_reward, r_PxG)
    zero_std = jnp.mean(r_PxG.std(axis=1) == 0)
    idx_P, valid_P = _select_groups(spec, r_PxG)
    rows_B = (idx_P[:, None] * g + jnp.arange(g)[None, :]).reshape(-1)
    take = lambda x: jnp.take(x, rows_B, axis=0)  # noqa: E731
    r_PxG = jnp.take(r_PxG, idx_P, axis=0)
    prompts, pmask = (jnp.take(prompts_PxT, idx_P, axis=0),
                      jnp.take(pmask_PxT, idx_P, axis=0))
    scored_PxG = jnp.take(scored_B.reshape(p_o, g), idx_P, axis=0)
    mask_BxM = (take(comp.mask_BxM) * jnp.repeat(valid_P, g).astype(
        jnp.int32)[:, None] * scored_PxG.reshape(-1, 1).astype(jnp.int32))
    if spec.mask_truncated:
      mask_BxM *= (~take(comp.truncated_B)).astype(jnp.int32)[:, None]
    tokens, seg, pos = sequences(prompts, pmask, take(comp.tokens_BxM),
                                 take(comp.mask_BxM), g)
    # The behaviour log-probs: of the distribution the rollout drew from,
    # after top-p / top-k / min-p truncation (TIS corrects for it).
    rows = {"tokens": tokens, "seg": seg, "pos": pos, "mask": mask_BxM,
            "sampler": take(comp.logp_truncated_BxM)}
    n_all = n_mini * n_micro
    # 2. OLD, REFERENCE AND TEACHER LOG-PROBS (forward passes, only when
    # needed). The teacher's are at the sampling temperature too, so that
    # a teacher equal to the student gives exactly zero signal (Thinking
    # Machines sample at T = 1: there, the plain teacher distribution).
    if spec.needs_old:
      rows["old"] = _logp_scan(state["params"], spec, rows, n_all)
    if spec.needs_ref:
      rows["ref"] = _logp_scan(ref_params, spec, rows, n_all)
    if spec.distills:
      teacher_BxM = _logp_scan(teacher_params, spec, rows, n_all,
                               spec.teacher_cfg)
      rows["tok_adv"] = grpo_loss.distill_advantages(
          teacher_BxM, rows["old"], mask_BxM, spec.distill_coef)
    # 3. ADVANTAGES (KL-in-reward first, when chosen; distillation's
    # per-token term is added to the row's group advantage in the loss).
    if lc.beta > 0 and lc.kl_in_reward:
      kl_B = grpo_loss.sequence_kl(rows["old"], rows["ref"], mask_BxM,
                                   lc.kl_estimator)
      r_PxG = r_PxG - lc.beta * kl_B.reshape(-1, g)
    adv_PxG = grpo_loss.advantages(r_PxG, lc.advantage, lc.adv_eps,
                                   scored_PxG)
    rows["adv"] = adv_PxG.reshape(-1)

    # 4. UPDATES: mu epochs x minibatches x micro-batches.
    def micro_loss(params, mb, num_seqs, num_tokens):
      logp, ent = completion_logp(params, spec.cfg, mb["tokens"], mb["seg"],
                                  mb["pos"], m, spec.sampling.temperature)
      old = mb["old"] if spec.needs_old else jax.lax.stop_gradient(logp)
      w = grpo_loss.token_weights(mb["mask"], lc.aggregation,
                                  num_seqs=num_seqs, num_tokens=num_tokens,
                                  max_len=lc.max_len,
                                  num_microbatches=n_micro)
      adv = (mb["adv"][:, None] + mb["tok_adv"] if spec.distills
             else mb["adv"])
      loss, aux = grpo_loss.policy_loss(
          logp, old, adv, mb["mask"], w, lc,
          ref_logp_BxT=mb.get("ref"), sampler_logp_BxT=mb["sampler"])
      aux = dict(aux, entropy_sum=jnp.sum(jnp.where(mb["mask"] > 0, ent,
                                                    0.0)))
      return loss, aux

    def minibatch(state, mini):
      num_tokens = mini["mask"].sum()
      num_seqs = (mini["mask"].sum(axis=1) > 0).sum()

      def micro(grads, mb):
        (loss, aux), gr = jax.value_and_grad(micro_loss, has_aux=True)(
            state["params"], mb, num_seqs, num_tokens)
        return jax.tree.map(jnp.add, grads, gr), dict(aux, loss_sum=loss)

      zeros = jax.tree.map(jnp.zeros_like, state["params"])
      grads, aux = jax.lax.scan(micro, zeros,
                                jax.tree.map(
                                    lambda x: common.split_rows(x, n_micro),
                                    mini))
      aux = _reduce(aux)
      state, gnorm = train_state.apply_if_finite(state, grads, aux["loss_sum"],
                                            tx)
      skipped = (state["bad_steps"] > 0).astype(jnp.float32)
      return state, dict(aux, grad_norm_max=gnorm, skipped_sum=skipped)

    def epoch(state, key):
      perm = (jax.random.permutation(key, rows["tokens"].shape[0])
              if spec.updates_per_batch * n_mini > 1
              else jnp.arange(rows["tokens"].shape[0]))
      shuffled = jax.tree.map(lambda x: jnp.take(x, perm, axis=0), rows)
      return jax.lax.scan(minibatch, state,
                          jax.tree.map(
                              lambda x: common.split_rows(x, n_mini),
                              shuffled))

    state, aux = jax.lax.scan(
        epoch, state, jax.random.split(rng, spec.updates_per_batch))
    aux = _reduce(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), aux))
    state = dict(state, step=state["step"] + 1)

    # 5. METRICS (means over the rollout batch).
    len_B = comp.length_B.astype(jnp.float32)
    done_B = ~comp.truncated_B
    tok = jnp.maximum(aux.pop("tokens_sum"), 1.0)
    metrics = {k[:-4] if k.endswith("_sum") else k: v / tok
               for k, v in aux.items()
               if k.endswith("_sum") and k not in ("loss_sum", "skipped_sum")}
    metrics.update({
        "loss": aux["loss_sum"] / (spec.updates_per_batch * n_mini),
        "skipped_updates": aux["skipped_sum"],
        "grad_norm": aux["grad_norm_max"],
        "ratio_min": aux["ratio_min"], "ratio_max": aux["ratio_max"],
        "length/mean": len_B.mean(), "length/min": len_B.min(),
        "length/max": len_B.max(),
        "length/terminated_mean": jnp.sum(len_B * done_B) / jnp.maximum(
            done_B.sum(), 1),
        "truncated_frac": comp.truncated_B.mean(),
        "zero_std_frac": zero_std, "kept_frac": valid_P.mean(),
        "unscored_frac": 1.0 - scored_B.mean(),
        "advantage_abs_mean": jnp.abs(adv_PxG).mean(),
        "tokens_generated": comp.length_B.sum(),
        "bad_steps": state["bad_steps"],
    })
    if spec.distills:
      # Over the loss's real tokens: k1 estimate of KL(student || teacher)
      # at the rollout params, and the teacher's mean log-prob.
      real = mask_BxM > 0
      n_real = jnp.maximum(real.sum(), 1)
      msum = lambda x: jnp.where(real, x, 0.0).sum()  # noqa: E731
      metrics["distill/reverse_kl"] = msum(rows["old"] - teacher_BxM) / n_real
      metrics["distill/teacher_logp"] = msum(teacher_BxM) / n_real
    return state, metrics

  return learn


def make_rl_step(spec: RLSpec, tx):
  """rl_step(state, frozen, batch, rng) -> (state, metrics, extras).

  `frozen`: {"ref": params or None, "teacher": params or None,
  "reward_models": {name: params} or None, "judge": {"params", "chars"}
  or None}.
  `batch`: prompts_PxT, pmask_PxT (P = oversampled prompts), `answers`
  (dict of per-prompt arrays from the task's device_answer), `class_V`,
  optionally `source` (int32 [P] source ids for reward scopes), and with
  a judge `question`, `qmask`, `reference`, `rmask` ([P, ...] tokens of
  the bare question and the reference answer).
  `extras`, per rollout row [B]: `tokens` [B, M], `length`, `truncated`,
  `reward` (the total the advantages use) and `rewards` ({name: values}).
  """
  if spec.rewards is None:
    raise ValueError("make_rl_step needs device rewards (spec.rewards)")
  rollout, learn = make_rollout(spec), make_learn(spec, tx)

  def rl_step(state, frozen, batch, rng):
    k_sample, k_learn = jax.random.split(rng)
    comp = rollout(state["params"], batch["prompts"], batch["pmask"],
                   k_sample)
    rep = lambda x: jnp.repeat(x, spec.group, axis=0)  # noqa: E731
    # REWARDS: the registry's device twins, one combiner (rewards.combiner).
    rb = combine.DeviceBatch(
        comp.tokens_BxM, comp.mask_BxM, comp.truncated_B,
        jax.tree.map(rep, batch["answers"]), batch["class_V"],
        spec.rewards.tags, spec.rewards.think_opened, spec.rewards.task)
    source_B = rep(batch["source"]) if "source" in batch else None
    models = scored_models(spec, frozen, batch["prompts"], batch["pmask"],
                           comp, spec.rewards.tags, state["step"],
                           spec.rewards.scopes)
    if spec.judge is not None:
      models["judge"] = judged(spec, frozen, batch, comp)
    total_B, rmetrics, parts = combine.score(spec.rewards, rb, state["step"],
                                             source_B, models)
    state, metrics = learn(state, frozen, batch["prompts"],
                           batch["pmask"], comp, total_B, k_learn)
    metrics.update(rmetrics)
    if spec.truncated_reward is not None:  # what the learner saw
      total_B = jnp.where(comp.truncated_B, spec.truncated_reward, total_B)
    return state, metrics, {"tokens": comp.tokens_BxM,
                            "length": comp.length_B,
                            "truncated": comp.truncated_B,
                            "reward": total_B, "rewards": parts}

  return rl_step
