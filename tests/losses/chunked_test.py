"""Chunked log-prob / entropy / NLL (cfg.logits_chunk > 0) equal the
full-logits path: values and gradients, tied and untied lm heads."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from r1jax import sharding as shd
from r1jax.losses import chunked
from r1jax.models import get_preset, init_params
from r1jax.trainers.grpo_step import completion_logp
from r1jax.trainers.sft import make_sft_step


def _model(tie: bool):
  cfg = get_preset("tiny").replace(tie_embeddings=tie)
  return cfg, nn.unbox(init_params(cfg, jax.random.key(1)))


def _close(got, want, tol=1e-5):
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      np.asarray(a), np.asarray(b), rtol=tol, atol=tol), got, want)


def test_completion_logp_matches_full_logits():
  cfg, params = _model(tie=False)  # lm_head [D, V]
  rng = np.random.default_rng(0)
  b, s, m = 3, 12, 7  # m = 7 positions in chunks of 3: a padded last chunk
  tokens = rng.integers(1, 256, (b, s)).astype(np.int32)
  seg = np.ones((b, s), np.int32)
  seg[0, :2] = 0  # left padding
  pos = np.maximum(np.cumsum(seg, -1) - 1, 0).astype(np.int32)
  w = jnp.asarray(rng.normal(size=(b, m)), jnp.float32)

  @jax.jit
  def run(params):
    def f(p, c):
      logp, ent = completion_logp(p, c, tokens, seg, pos, m, 0.7)
      return jnp.sum(logp * w), (logp, ent)
    full = jax.value_and_grad(f, has_aux=True)(params, cfg)
    part = jax.value_and_grad(f, has_aux=True)(
        params, cfg.replace(logits_chunk=3))
    return full, part

  ((_, want), g_want), ((_, got), g_got) = run(params)
  _close(got, want)
  _close(g_got, g_want)


def test_sft_step_matches_full_logits():
  """Two micro-batches, one SGD step: same loss, accuracy, new params."""
  cfg, params = _model(tie=True)  # the embedding [V, D] as the head
  rng = np.random.default_rng(2)
  b, t = 4, 10
  batch = {"tokens": rng.integers(1, 256, (b, t)).astype(np.int32),
           "segment_ids": np.ones((b, t), np.int32),
           "loss_mask": (rng.random((b, t)) < 0.6).astype(np.int32)}
  batch["segment_ids"][1, :3] = 0
  batch["positions"] = np.maximum(
      np.cumsum(batch["segment_ids"], -1) - 1, 0).astype(np.int32)
  tx = optax.sgd(1.0)
  out = {}
  for chunk in (0, 4):
    step = jax.jit(make_sft_step(cfg.replace(logits_chunk=chunk), tx, 2))
    state = {"params": params, "opt_state": tx.init(params),
             "step": jnp.zeros((), jnp.int32),
             "bad_steps": jnp.zeros((), jnp.int32)}
    out[chunk] = step(state, batch)
  (s0, m0), (s4, m4) = out[0], out[4]
  _close({k: m4[k] for k in ("loss", "grad_norm", "token_accuracy")},
         {k: m0[k] for k in ("loss", "grad_norm", "token_accuracy")})
  assert int(m4["tokens"]) == int(m0["tokens"]) > 0
  _close(s4["params"], s0["params"])


def test_token_stats_against_numpy():
  """logp, entropy and argmax hits of a random head, float64 numpy."""
  rng = np.random.default_rng(3)
  h = rng.normal(size=(2, 5, 6)).astype(np.float32)
  head = rng.normal(size=(6, 11)).astype(np.float32)
  tgt = rng.integers(0, 11, (2, 5)).astype(np.int32)
  st = chunked.token_stats(jnp.asarray(h), jnp.asarray(head), "DV",
                           jnp.asarray(tgt), 2, dtype=jnp.float32,
                           temperature=0.5, entropy=True, hits=True)
  z = h.astype(np.float64) @ head / 0.5
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  want = np.take_along_axis(logp, tgt[..., None], -1)[..., 0]
  np.testing.assert_allclose(st["logp"], want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(st["entropy"],
                             -(np.exp(logp) * logp).sum(-1), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(st["hit"], z.argmax(-1) == tgt)


def test_chunked_logits_cut_temporary_memory():
  """Compiled (not run) grad of sum(logp) over M = 2048 positions, V = 8192:
  the full path holds [M, V] float32 logits several times, chunks of 128
  only [128, V]."""
  m, d, v = 2048, 64, 8192
  sds = jax.ShapeDtypeStruct

  def temp_bytes(chunk):
    def f(h, head, t):
      if chunk:
        st = chunked.token_stats(h, head, "DV", t, chunk, dtype=jnp.float32,
                                 entropy=True)
        return st["logp"].sum() + st["entropy"].sum()
      z = jnp.einsum("BTD,DV->BTV", h, head)
      logp = jax.nn.log_softmax(z, -1)
      ent = -jnp.sum(jnp.exp(logp) * logp, -1)
      return (jnp.take_along_axis(logp, t[..., None], -1).sum()
              + jax.lax.stop_gradient(ent).sum())
    compiled = jax.jit(jax.grad(f, (0, 1))).lower(
        sds((1, m, d), jnp.float32), sds((d, v), jnp.float32),
        sds((1, m), jnp.int32)).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  full = temp_bytes(0)
  assert full >= m * v * 4  # at least one [M, V] float32
  assert temp_bytes(128) * 4 < full


def test_rl_step_with_chunked_learner_on_a_mesh():
  """The whole GRPO step (rollout, reference, update) with chunked attention
  and chunked log-probs on a 2x2x2 mesh equals the default on one device."""
  # pylint: disable-next=g-import-not-at-top
  from tests.trainers import grpo_step_test as g
  run, spec = g._run, g._spec  # pylint: disable=protected-access
  one = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  want_p, want_m = run(spec(), one)
  cfg = g.CFG.replace(attention="chunked", attention_chunk=16,
                      logits_chunk=5)
  got_p, got_m = run(spec(cfg=cfg), shd.make_mesh((2, 2, 2)))
  _close(got_p, want_p, 2e-5)
  for k in ("loss", "kl_k3", "entropy", "length/mean"):
    np.testing.assert_allclose(got_m[k], want_m[k], rtol=1e-4, atol=1e-6,
                               err_msg=k)
