"""The `grpo` stage: R1-Zero / R1 reasoning RL.

  python -m r1jax.main --config=configs/r1_zero.py:tiny --workdir=/tmp/rz

Sections: config validation; mesh, tokenizer and model (and the frozen
teacher of on-policy distillation, r1jax.trainers.teacher); the compiled
step (one program with device rewards, two with host rewards); the host
loop (r1jax.trainers.loop); export.
"""

from __future__ import annotations

import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec

from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import benchmarks, tasks, templates
from r1jax.losses import grpo as grpo_loss
from r1jax.rewards import combiner
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import total as reward_total
from r1jax.rewards.device import combine, vocab
from r1jax.sampling import Sampling, left_pad
from r1jax.trainers import common, grpo_step, host_rewards, loop, rl_data
from r1jax.trainers import judge_model
from r1jax.trainers import reward_models as reward_models_lib
from r1jax.trainers import run_files
from r1jax.trainers import samples as samples_lib
from r1jax.trainers import teacher as teacher_lib
from r1jax.trainers import train_state


def loss_config(c) -> grpo_loss.LossConfig:
  """The preset with every field set in config.loss applied over it."""
  over = {k: v for k, v in c.loss.items() if k != "preset" and v is not None}
  if not over.get("max_len"):  # unset or 0: L_max = the completion budget
    over["max_len"] = c.rl.max_new_tokens
  try:
    return grpo_loss.make_config(c.loss.preset, **over)
  except ValueError as e:
    raise ValueError(f"config.loss (preset={c.loss.preset!r}): {e}") from e


def validate(c) -> None:
  """Fails before anything compiles, naming the field."""
  common.validate_model(c)
  train_state.validate_optim(c)
  r = c.rl
  if r.group_size < 2:
    raise ValueError(f"config.rl.group_size={r.group_size}: GRPO needs G >= "
                     "2 samples per prompt (advantages are group-relative)")
  for f in ("num_prompts", "max_new_tokens", "updates_per_batch",
            "minibatches", "microbatches", "oversample", "rollout_chunks"):
    if r[f] < 1:
      raise ValueError(f"config.rl.{f}={r[f]} must be >= 1")
  if c.steps < 1:
    raise ValueError(f"config.steps={c.steps} must be >= 1")
  if not r.temperature > 0:
    raise ValueError(f"config.rl.temperature={r.temperature} must be > 0: "
                     "the loss uses log softmax(logits / temperature), and "
                     "greedy rollouts give every group equal rewards")
  if r.cache_dtype and r.cache_dtype not in common.DTYPES:
    raise ValueError(f"config.rl.cache_dtype={r.cache_dtype!r}; allowed: "
                     f"'' (the compute dtype) or {sorted(common.DTYPES)}")
  rows = r.num_prompts * r.group_size
  if rows % (r.minibatches * r.microbatches):
    raise ValueError(
        f"config.rl.num_prompts x group_size = {rows} rows must divide into "
        f"minibatches x microbatches = {r.minibatches} x {r.microbatches}")
  if r.oversample > 1 and not r.dynamic_sampling:
    raise ValueError("config.rl.oversample > 1 needs "
                     "config.rl.dynamic_sampling=True")
  p_o = r.num_prompts * r.oversample
  if p_o % r.rollout_chunks:
    raise ValueError(f"config.rl.rollout_chunks={r.rollout_chunks} must "
                     f"divide the {p_o} prompts of a rollout (num_prompts x "
                     "oversample)")
  per_update = r.updates_per_batch * r.minibatches
  if r.ref_update_every % per_update:
    raise ValueError(
        f"config.rl.ref_update_every={r.ref_update_every} counts optimizer "
        f"updates and must be a multiple of the {per_update} updates per "
        "rollout (updates_per_batch x minibatches): the reference is "
        "refreshed between rollouts")
  e = c.eval
  eval_rows = (e.batch_prompts or p_o // r.rollout_chunks) * e.k
  splits = [(rows // (r.minibatches * r.microbatches),
             f"config.rl.num_prompts x group_size / (minibatches x "
             f"microbatches) = {rows} / ({r.minibatches} x "
             f"{r.microbatches})"),
            (p_o * r.group_size // r.rollout_chunks,
             f"config.rl.num_prompts x oversample x group_size / "
             f"rollout_chunks = {p_o * r.group_size} / {r.rollout_chunks}")]
  if e.num_prompts:
    splits.append((eval_rows, f"config.eval.batch_prompts x config.eval.k "
                   f"= {eval_rows}"))
  common.validate_mesh(c, rows, "rl.num_prompts x config.rl.group_size",
                       tuple(splits))
  if c.template not in templates.TEMPLATES:
    raise ValueError(f"config.template={c.template!r}; allowed: "
                     f"{templates.TEMPLATES}")
  if c.eval.num_prompts and c.eval.k < 1:
    raise ValueError(f"config.eval.k={c.eval.k} must be >= 1")
  if not c.data.train_file and not tasks.is_task(c.data.task):
    raise ValueError(f"config.data.task={c.data.task!r}; known: "
                     f"{tasks.names()} (or set config.data.train_file)")
  for f in ("format", "eval_format"):
    if c.data[f] and c.data[f] not in benchmarks.LOADERS:
      raise ValueError(f"config.data.{f}={c.data[f]!r}; allowed: '' (JSONL "
                       f"of prompt/answer) or {sorted(benchmarks.LOADERS)}")
  if c.data.train_file and not r.host_rewards:
    raise ValueError("config.data.train_file needs "
                     "config.rl.host_rewards=True (device rewards need a "
                     "synthetic task)")
  reward_models_lib.validate(c)
  reward_total.validate(c.rewards, reward_models_lib.extra_names(c))
  if uses_judge(c):
    judge_model.validate(c.judge, "config.judge")
  elif float(c.rewards.get("judge", 0.0)):
    raise ValueError("config.rewards.judge needs config.judge.init_from")
  reward_total.with_template(c.reward_options.to_dict(), False)
  combiner.scopes(c.get("reward_scope"), reward_models_lib.names(c))
  loss_config(c)  # raises on an unknown preset or field value
  Sampling(temperature=r.temperature, top_p=r.top_p, top_k=r.top_k)
  teacher_lib.validate(c)
  # Last: paths an earlier pipeline stage may write (r1jax/trainers/
  # pipeline.py checks everything above before the first stage runs).
  common.validate_init_from(c)
  for f in ("train_file", "eval_file"):
    if c.data[f] and not common.exists(c.data[f]):
      raise ValueError(f"config.data.{f}={c.data[f]!r}: file not found")


def uses_judge(c) -> bool:
  """Whether the config has a judge reward with a model (configlib.
  add_judge; weight 0 = a metric)."""
  j = c.get("judge")
  return j is not None and bool(j.init_from)


def judge_batch(c, tok, examples) -> dict:
  """The judge's inputs of a step's prompts: the bare question and the
  reference answer, left-padded token arrays (numpy)."""
  q = [tok_lib.encode_prompt(tok, e["prompt"])[-c.max_prompt_len:]
       for e in examples]
  r = [tok.encode(str(e["answer"]))[-c.judge.reference_tokens:]
       for e in examples]
  q_PxQ, qm_PxQ = left_pad(q, tok.pad_id, c.max_prompt_len)
  r_PxR, rm_PxR = left_pad(r, tok.pad_id, c.judge.reference_tokens)
  return {"question": q_PxQ, "qmask": qm_PxQ, "reference": r_PxR,
          "rmask": rm_PxR}


def _scope_block(c) -> dict:
  """config.reward_scope as a dict ({} in configs without the field)."""
  scope = c.get("reward_scope")
  return scope.to_dict() if scope is not None else {}


def _corpus(c, prompts: rl_data.Prompts):
  """Texts to train a SentencePiece tokenizer on (random-init models)."""
  ex = prompts.train(0, 256) + prompts.held_out(64)
  prompter = templates.make_prompter(c.template, None,
                                     system=c.system_prompt, prefill=c.prefill)
  return ([prompter.render(e["prompt"]) for e in ex]
          + [f"<think> {e['prompt']} </think> <answer> {e['answer']} "
             "</answer>" for e in ex])


def reward_means(m: dict) -> dict[str, float]:
  """{name: mean} of a step's per-reward metrics (`reward/<name>`)."""
  return {k[len("reward/"):]: v for k, v in m.items()
          if k.startswith("reward/") and k.count("/") == 1
          and k != "reward/total"}


def no_signal_message(m: dict, steps: int, weights: dict, template: str,
                      think_opened: bool, init_from: str = "?") -> str:
  """Why GRPO cannot learn from a step where every group's rewards are
  equal (metrics `m`), and what to check; `weights`: config.rewards,
  `init_from`: config.init_from ("" for a random model)."""
  means = reward_means(m)
  used = {k: v for k, v in means.items() if weights.get(k)}
  shown = ", ".join(f"{k}={v:.3g}" for k, v in sorted(means.items()))
  where = f"config.template={template!r}, think_opened={think_opened}"
  acc, fmt = used.get("accuracy"), used.get("format")
  if all(v == 0 for v in used.values()) and not init_from:
    why = ("every reward is 0: the model is random (config.init_from is "
           "empty) and answers nothing; start from a base model trained on "
           "this task and template, e.g. a configs/sft.py:tiny workdir "
           "(--config.init_from=<workdir>)")
  elif all(v == 0 for v in used.values()):
    why = ("every reward is 0: the task is too hard for the base model or "
           "the reward never fires (check samples.jsonl for the answer "
           f"format; {where}; a base model not trained on this task and "
           "template answers nothing)")
  elif fmt == 0 and acc:
    why = ("format is 0 while accuracy is > 0: format mismatch with the "
           f"template ({where}: does the prompt already open <think>?)")
  elif acc == 0 and fmt:
    why = ("accuracy is 0 while format is > 0: the answers are well "
           "formatted but never right; make the task easier "
           "(config.data.task_kwargs) or start from a stronger model")
  else:
    why = ("every completion of a prompt scores the same: the policy is "
           "(nearly) deterministic on these prompts, or each prompt is "
           "all-solved or all-failed; raise config.rl.temperature or "
           "config.rl.group_size, change the difficulty, or use "
           "config.rl.dynamic_sampling")
  return (f"no learning signal for {steps} steps: within every group all "
          "rewards are equal (zero_std_frac = 1), so every advantage is 0 "
          f"and GRPO cannot learn (reward means: {shown}). "
          f"{why[0].upper()}{why[1:]}. (config.log.no_signal_steps sets "
          "when this warning fires.)")


class NoSignalWarning:
  """Logs `no_signal_message` once, when the metric `no_signal_steps`
  (consecutive steps with zero_std_frac = 1) reaches `steps` (0: never)."""

  def __init__(self, steps: int, **kw):
    self.steps, self.kw, self.fired = steps, kw, False

  def __call__(self, m: dict) -> bool:
    """Whether it warned now."""
    n = int(m.get("no_signal_steps", 0))
    if self.fired or not self.steps or n < self.steps:
      return False
    self.fired = True
    logging.warning("%s", no_signal_message(m, n, **self.kw))
    return True


@jax.jit
def _count_no_signal(zero_std_frac, count):
  """Consecutive steps in which every group's rewards were equal."""
  return jnp.where(zero_std_frac >= 1.0, count + 1, 0)


def rl_spec(c, cfg, stop_ids: tuple, pad_id: int, dev_rewards=None,
            teacher_cfg=None, reward_models=(), judge=None
            ) -> grpo_step.RLSpec:
  """The compiled step's static description from config.rl / config.loss
  (and config.distill, with the loaded teacher's `teacher_cfg`)."""
  r = c.rl
  return grpo_step.RLSpec(
      cfg=cfg, num_prompts=r.num_prompts, group=r.group_size,
      max_new_tokens=r.max_new_tokens,
      sampling=Sampling(temperature=r.temperature, top_p=r.top_p,
                        top_k=r.top_k),
      stop_ids=stop_ids, pad_id=pad_id, loss=loss_config(c),
      updates_per_batch=r.updates_per_batch, minibatches=r.minibatches,
      microbatches=r.microbatches, rollout_chunks=r.rollout_chunks,
      mask_truncated=r.mask_truncated,
      truncated_reward=r.truncated_reward,
      dynamic_sampling=r.dynamic_sampling,
      cache_dtype=common.DTYPES.get(r.cache_dtype) if r.cache_dtype else None,
      rewards=dev_rewards, distill_coef=teacher_lib.coef(c),
      teacher_cfg=teacher_cfg, reward_models=tuple(reward_models),
      judge=judge)


def build(c, workdir: str):
  """Everything the loop needs; shared with benchmarks and tests."""
  mesh = shd.make_mesh(tuple(c.mesh.shape))
  rules = common.rules(c)
  prompts = rl_data.Prompts(c)
  tok = common.tokenizer(c, workdir, lambda: _corpus(c, prompts))
  try:
    prompter = templates.make_prompter(c.template, tok,
                                       system=c.system_prompt,
                                       prefill=c.prefill)
  except ValueError as e:
    raise ValueError(f"config.template={c.template!r}: {e}") from e
  r = c.rl
  rl_data.check_prompt_lengths(tok, prompter, prompts, c.max_prompt_len,
                               c.eval.num_prompts)
  budget = c.max_prompt_len + r.max_new_tokens
  # The frozen teacher (config.distill): loaded, never checkpointed.
  teacher_cfg, teacher = None, None
  if teacher_lib.coef(c) > 0:
    teacher_cfg, teacher = teacher_lib.load(c, mesh, rules, tok, budget)
  # The frozen reward models (config.reward_models): loaded, never
  # checkpointed.
  rm_specs, rm_params = reward_models_lib.load(c, mesh, rules, tok, budget)
  # The frozen generative judge (config.judge), read from the token arrays
  # inside the step: its template must encode losslessly.
  judge_spec, judge_frozen = None, None
  if uses_judge(c):
    j = judge_model.load(c.judge, mesh, rules, tok, "config.judge",
                         c.model.dtype)
    try:
      judge_spec = grpo_step.JudgeSpec(j.cfg, j.pieces())
    except ValueError as e:
      raise ValueError(f"config.judge: {e}; the RL judge reward reads "
                       "token ids (a tokenizer.json tokenizer)") from e
    judge_frozen = {"params": j.params,
                    "chars": rl_data.place(j.chars(), mesh, (None, None))}
  cfg, params = common.model(c, mesh, rules, tok.vocab_size, c.seed)
  if budget > cfg.max_seq_len:
    raise ValueError(
        f"config.max_prompt_len + config.rl.max_new_tokens = "
        f"{c.max_prompt_len} + {r.max_new_tokens} = {budget} exceeds the "
        f"model's max_seq_len {cfg.max_seq_len} (max_position_embeddings)")
  updates = c.steps * r.updates_per_batch * r.minibatches
  tx, sched = train_state.make_optimizer(c.optim, updates)
  stops = common.stop_ids(tok, r.stop_tokens, "rl.stop_tokens")
  dev_rewards = None
  if not r.host_rewards:
    dev_rewards = combine.DeviceRewardSpec.from_config(
        c.rewards, c.reward_options.to_dict(), prompts.task,
        vocab.Tags.from_encode(tok.encode), prompter.think_opened,
        report=tuple(c.get("reward_report", ("accuracy", "format"))),
        scope=_scope_block(c),
        extra=[s.name for s in rm_specs] + (["judge"] if judge_spec else []))
  spec = rl_spec(c, cfg, stops, tok.pad_id, dev_rewards, teacher_cfg,
                 rm_specs, judge_spec)
  return dict(mesh=mesh, rules=rules, prompts=prompts, tok=tok, cfg=cfg,
              params=params, tx=tx, sched=sched, spec=spec,
              prompter=prompter, teacher=teacher, reward_models=rm_params,
              judge=judge_frozen)


def run(c, workdir: str) -> dict:
  """Trains; returns the last metrics (with the final evaluation)."""
  validate(c)
  run_files.write_config(c, workdir)
  b = build(c, workdir)
  mesh, rules, tok, cfg, spec = b["mesh"], b["rules"], b["tok"], b["cfg"], \
      b["spec"]
  prompts, r = b["prompts"], c.rl
  ckpt_lib.save_model_config(workdir, cfg)
  state = train_state.init_state(b["params"], b["tx"])
  # Consecutive steps without learning signal (checkpointed: a resumed run
  # counts on as an uninterrupted one).
  carry = {"train": state, "no_signal": jax.device_put(
      jnp.zeros((), jnp.int32), NamedSharding(mesh, PartitionSpec()))}
  if spec.needs_ref:
    carry["ref"] = jax.tree.map(jnp.copy, b["params"])
  p_o = r.num_prompts * r.oversample
  # config.rl.ref_update_every counts optimizer updates; refresh between
  # rollouts (validate: a multiple of the updates per rollout).
  refresh_every = r.ref_update_every // (r.updates_per_batch * r.minibatches)
  class_V = None
  if not r.host_rewards:
    class_V = rl_data.place(decode_lib.token_classes(tok), mesh, (None,))
  prompter = b["prompter"]
  think_opened = prompter.think_opened
  reward_options = reward_total.with_template(c.reward_options.to_dict(),
                                              think_opened)
  report = tuple(c.get("reward_report", ("reflection",)))
  scopes = combiner.scopes(_scope_block(c), reward_models_lib.names(c))
  source_ids = combiner.source_ids(scopes)

  # THE COMPILED STEP(S)
  ctx = lambda: (jax.set_mesh(mesh), nn.logical_axis_rules(rules))  # noqa
  if r.host_rewards:
    rollout = jax.jit(grpo_step.make_rollout(spec))
    # Reward models read the rollout's tokens on the device (one more
    # small program); the rule rewards run on the host.
    tags = vocab.Tags.from_encode(tok.encode)
    def score_models(rms, judge, jb, p, m, comp, step):
      out = grpo_step.scored_models(
          spec, {"reward_models": rms}, p, m, comp, tags, step,
          tuple(scopes.items()))
      if spec.judge:  # NaN: no verdict (left out, counted)
        out["judge"] = grpo_step.judged(spec, {"judge": judge}, jb, comp)
      return out
    score_models = jax.jit(score_models)
    learn = jax.jit(grpo_step.make_learn(spec, b["tx"]), donate_argnums=(0,))
  else:
    rl_step = jax.jit(grpo_step.make_rl_step(spec, b["tx"]),
                      donate_argnums=(0,))
  key = jax.random.key(c.seed)

  def step_fn(carry, step):
    examples = prompts.train(step, p_o)
    tokens, mask = rl_data.encode_prompts(tok, prompter, examples,
                                          c.max_prompt_len)
    tokens = rl_data.place(tokens, mesh, ("act_batch", None))
    mask = rl_data.place(mask, mesh, ("act_batch", None))
    rng = jax.random.fold_in(key, step)
    ref = carry.get("ref")
    if ref is not None and refresh_every and step and \
        step % refresh_every == 0:
      ref = jax.tree.map(jnp.copy, carry["train"]["params"])
    frozen = {"ref": ref, "teacher": b["teacher"],
              "reward_models": b["reward_models"], "judge": b["judge"]}
    jb = ({k: rl_data.place(v, mesh, ("act_batch", None))
           for k, v in judge_batch(c, tok, examples).items()}
          if spec.judge else {})
    m1, m2 = ctx()
    with m1, m2:
      if r.host_rewards:
        k_sample, k_learn = jax.random.split(rng)
        comp = rollout(carry["train"]["params"], tokens, mask, k_sample)
        models = (common.to_host(score_models(b["reward_models"], b["judge"],
                                              jb, tokens, mask, comp, step))
                  if spec.reward_models or spec.judge else {})
        # Each process scores the rows it holds; all get every row's reward.
        total_B, rmetrics, parts = host_rewards.score_rollout(
            tok, comp, [e for e in examples for _ in range(r.group_size)],
            c.rewards, reward_options, think_opened=think_opened,
            report=report, scope=scopes, step=step, extra=models,
            per_row=True)
        r_B = host_rewards.unscored(total_B, parts, c.rewards,
                                    reward_models_lib.extra_names(c))
        state, metrics = learn(carry["train"], frozen, tokens, mask, comp,
                               jnp.asarray(r_B), k_learn)
        metrics.update(rmetrics)
        extras = {"tokens": comp.tokens_BxM, "length": comp.length_B,
                  "truncated": comp.truncated_B, "reward": total_B,
                  "rewards": parts}
      else:
        batch = {"prompts": tokens, "pmask": mask, "class_V": class_V,
                 "answers": rl_data.device_answers(prompts.task, examples,
                                                   mesh),
                 "source": rl_data.place(np.asarray(
                     [source_ids.get(e.get("source", ""), 0)
                      for e in examples], np.int32), mesh, ("act_batch",)),
                 **jb}
        state, metrics, extras = rl_step(carry["train"], frozen, batch,
                                         rng)
      no_signal = _count_no_signal(metrics["zero_std_frac"],
                                   carry["no_signal"])
    metrics["no_signal_steps"] = no_signal
    out = {"train": state, "no_signal": no_signal}
    if ref is not None:
      out["ref"] = ref
    return out, metrics, extras

  # Distillation learns from the teacher when every group's rewards are
  # equal (pure distillation: always), so the warning would be wrong.
  warn = NoSignalWarning(0 if spec.distills else
                         c.log.get("no_signal_steps", 5),
                         weights=dict(c.rewards), template=c.template,
                         think_opened=think_opened,
                         init_from=c.init_from or c.model.hf_dir)
  sample_writer = samples_lib.Writer(workdir)
  samples_every = c.log.get("samples_every", 0)

  def host_metrics(step, m, extras):
    x = common.to_host(extras)
    texts = decode_lib.decode(tok, x["tokens"], x["length"])
    out = rl_data.text_metrics(texts, think_opened, x["reward"],
                               r.group_size)
    out["lr"] = float(b["sched"]((step + 1) * r.updates_per_batch
                                 * r.minibatches - 1))
    warn(m)
    # Self-describing samples (prompt, reference, rewards) on the metrics'
    # step numbers; the loop's `samples` hook writes only texts.
    if not sample_writer.started:
      sample_writer.start(step)
    if samples_every and (step + 1) % samples_every == 0:
      sample_writer.write(samples_lib.rows(
          step + 1, prompts.train(step, p_o), texts, x, r.group_size,
          c.log.num_samples, r.truncated_reward))
    return out

  def evaluate(carry, step):
    t = time.time()
    m1, m2 = ctx()
    with m1, m2:
      out = rl_data.evaluate(carry["train"]["params"], cfg, tok, prompts, c,
                             mesh, spec.stop_ids, c.seed + 1, prompter,
                             rules=rules)
    logging.info("eval at step %d (%.1fs): %s", step, time.time() - t,
                 {k: round(v, 4) for k, v in out.items()})
    return out

  # Policy FLOPs per generated token: sampling 2N, learner fwd+bwd 6N,
  # reference fwd 2N (when beta > 0), old-logp fwd 2N (when needed), and
  # the teacher's fwd 2N_teacher (when distilling).
  n = cfg.num_params()
  fpt = n * (2 + 6 * r.updates_per_batch + 2 * spec.needs_ref
             + 2 * spec.needs_old)
  if spec.distills:
    fpt += 2 * spec.teacher_cfg.num_params()
  fpt += sum(2 * s.cfg.num_params() for s in spec.reward_models)
  carry, last = loop.run(
      c, workdir, carry,
      loop.Hooks(step=step_fn, host_metrics=host_metrics,
                 evaluate=evaluate if c.eval.num_prompts else None),
      total_steps=c.steps, tokens_per_step=lambda m: m["tokens_generated"],
      flops_per_token=fpt)
  run_files.write_rl_curves(c, workdir)
  return run_files.finish(c, workdir, cfg, carry["train"]["params"], last,
                       c.steps)
