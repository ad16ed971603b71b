"""Every attention implementation equals the "xla" reference on real rows:
values and gradients, packed segments, left padding, GQA, cache layout."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax import sharding as shd
from r1jax.models import Transformer, get_preset, init_params
from r1jax.models import attention
from r1jax.models.attention import Mask, attention_mask

B, T, N, K, H = 2, 13, 4, 2, 8
# Row 0: left padding then two documents; row 1: three documents then one
# padding token (fully masked query row, and a key nobody may read).
SEG = np.array([[0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2],
                [1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 0]], np.int32)


def _inputs(t_kv, dtype=jnp.float32, seed=0):
  rng = np.random.default_rng(seed)
  arr = lambda *s: jnp.asarray(rng.normal(size=s), dtype)
  return arr(B, T, N, H), arr(B, t_kv, K, H), arr(B, t_kv, K, H), arr(
      B, T, N, H)


def _loss_and_grads(impl, q, k, v, w, mask, layout, valid_BxT, **kw):
  """sum(out * w) over real query rows, and its gradients wrt q, k, v."""
  def f(q, k, v):
    out = attention.attend(impl, 4, q, k, v, mask, layout, q.dtype, **kw)
    valid = valid_BxT[:, :, None, None]
    return jnp.sum(jnp.where(valid, out * w, 0).astype(jnp.float32)), out
  (_, out), grads = jax.jit(jax.value_and_grad(f, (0, 1, 2), has_aux=True))(
      q, k, v)
  return out, grads


def _check(impl, want, got, valid_BxT, atol):
  (out_w, g_w), (out_g, g_g) = want, got
  assert np.isfinite(np.asarray(out_g, np.float32)).all(), impl
  np.testing.assert_allclose(np.asarray(out_g, np.float32)[valid_BxT],
                             np.asarray(out_w, np.float32)[valid_BxT],
                             atol=atol, err_msg=impl)
  for name, a, b in zip("qkv", g_g, g_w):
    np.testing.assert_allclose(np.asarray(a, np.float32),
                               np.asarray(b, np.float32), atol=atol,
                               err_msg=f"{impl} d{name}")


@pytest.mark.parametrize("factored", [False, True], ids=["dense", "Mask"])
@pytest.mark.parametrize("impl", ["dot_product", "chunked", "splash"])
def test_training_layout_matches_xla(impl, factored):
  """`factored`: the mask as the model passes it (attention.Mask, never
  the [B, T, S] array for chunked and splash); the reference is dense."""
  q, k, v, w = _inputs(T)
  slot = jnp.arange(T)
  dense = attention_mask(jnp.asarray(SEG), jnp.asarray(SEG), slot, slot)
  valid = SEG != 0
  want = _loss_and_grads("xla", q, k, v, w, dense, "BSKH", valid)
  mask = Mask(jnp.asarray(SEG), jnp.asarray(SEG), slot, slot) if factored \
      else dense
  if impl == "splash":
    # A TPU kernel: here in Pallas interpret mode, per device over a 2x4
    # mesh (rows split over "data"), as under the trainers' sharding.
    with jax.set_mesh(shd.make_mesh((2, 4, 1))), nn.logical_axis_rules(
        shd.DEFAULT_RULES):
      got = _loss_and_grads(impl, q, k, v, w, mask, "BSKH", valid,
                            interpret=True)
  else:
    got = _loss_and_grads(impl, q, k, v, w, mask, "BSKH", valid)
  _check(impl, want, got, valid, atol=2e-5)


@pytest.mark.parametrize("factored", [False, True], ids=["dense", "Mask"])
@pytest.mark.parametrize("impl", ["dot_product", "chunked"])
def test_cache_layout_matches_xla(impl, factored):
  """Prefill of T tokens at slot 5 of an 22-slot cache ([B, K, S, H])."""
  s, index = 22, 5
  q, k, v, w = _inputs(s, seed=1)
  k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)
  k_seg = np.zeros((B, s), np.int32)
  k_seg[:, :index] = [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]  # earlier tokens
  # Row 0 starts new documents; row 1 continues its cached document 1.
  k_seg[0, index:index + T] = np.where(SEG[0] > 0, SEG[0] + 1, 0)
  k_seg[1, index:index + T] = SEG[1]
  q_seg = k_seg[:, index:index + T]
  factors = Mask(jnp.asarray(q_seg), jnp.asarray(k_seg),
                 index + jnp.arange(T), jnp.arange(s))
  valid = q_seg != 0
  want = _loss_and_grads("xla", q, k, v, w, factors.dense(), "BKSH", valid)
  got = _loss_and_grads(impl, q, k, v, w,
                        factors if factored else factors.dense(), "BKSH",
                        valid)
  _check(impl, want, got, valid, atol=2e-5)


def test_chunked_bfloat16_close_to_xla():
  q, k, v, w = _inputs(T, jnp.bfloat16, seed=2)
  slot = jnp.arange(T)
  mask = attention_mask(jnp.asarray(SEG), jnp.asarray(SEG), slot, slot)
  valid = SEG != 0
  want = _loss_and_grads("xla", q, k, v, w, mask, "BSKH", valid)
  got = _loss_and_grads("chunked", q, k, v, w, mask, "BSKH", valid)
  _check("chunked bf16", want, got, valid, atol=6e-2)


def test_model_with_chunked_attention_matches_xla():
  """Wiring: ModelConfig.attention reaches every layer; loss and grads."""
  cfg = get_preset("tiny").replace(attention="xla")
  params = nn.unbox(init_params(cfg, jax.random.key(0)))
  tokens = np.random.default_rng(0).integers(1, 256, SEG.shape, np.int32)

  def loss(p, c):
    logits, _ = Transformer(c).apply({"params": p}, tokens, None, SEG)
    return jnp.sum(jnp.where(SEG[..., None] != 0, logits, 0) ** 2)

  grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
  want_l, want_g = grad(params, cfg)
  got_l, got_g = grad(params, cfg.replace(attention="chunked",
                                          attention_chunk=4))
  np.testing.assert_allclose(got_l, want_l, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-5),
               got_g, want_g)


def test_chunked_memory_is_linear_in_length():
  """Compiled (not run) value_and_grad at T = 4096: the xla path holds
  [B, K, R, T, S] float32 scores (1 GiB here), chunked only blocks."""
  t = 4096
  seg = jnp.ones((1, t), jnp.int32)
  slot = jnp.arange(t)

  def temp_bytes(impl):
    def f(q, k, v):
      mask = attention_mask(seg, seg, slot, slot)
      return jnp.sum(attention.attend(impl, 512, q, k, v, mask, "BSKH",
                                      jnp.float32) ** 2)
    sd = lambda n: jax.ShapeDtypeStruct((1, t, n, 16), jnp.float32)
    compiled = jax.jit(jax.value_and_grad(f, (0, 1, 2))).lower(
        sd(4), sd(2), sd(2)).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  xla = temp_bytes("xla")
  assert xla >= 4 * t * t * 4  # N heads x T x S float32
  assert temp_bytes("chunked") * 10 < xla  # 49 MiB vs 1025 MiB measured


def test_model_never_builds_the_full_mask():
  """The model's forward at T = 4096 with chunked attention (compiled, not
  run): no [B, T, T] bool anywhere in the program (16 MiB per row here, 1
  GiB at 32k tokens); the model passes attention.Mask's factors."""
  t = 4096
  cfg = get_preset("tiny").replace(attention="chunked", attention_chunk=512)
  params = jax.eval_shape(lambda: nn.unbox(init_params(cfg,
                                                       jax.random.key(0))))
  tokens = jax.ShapeDtypeStruct((1, t), jnp.int32)
  fwd = lambda p, x: Transformer(cfg).apply({"params": p}, x, num_logits=1)
  hlo = jax.jit(fwd).lower(params, tokens).compile().as_text()
  assert "pred[1,512,512]" in hlo  # one block's mask
  assert f"pred[1,{t},{t}]" not in hlo


def test_bad_choices_name_the_config_field():
  with pytest.raises(ValueError, match="config.model.attention="):
    get_preset("tiny").replace(attention="flash")
  with pytest.raises(ValueError, match="config.model.attention_chunk"):
    get_preset("tiny").replace(attention_chunk=0)
  with pytest.raises(ValueError, match="config.model.logits_chunk"):
    get_preset("tiny").replace(logits_chunk=-1)
  if jax.default_backend() != "tpu":
    q, k, v, _ = _inputs(T)
    mask = jnp.ones((B, T, T), bool)
    with pytest.raises(ValueError, match="config.model.attention='splash'"):
      attention.attend("splash", 4, q, k, v, mask, "BSKH", jnp.float32)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="CPU default")
def test_auto_is_the_reference_on_cpu():
  assert attention.resolve("auto") == "xla"


def test_config_fields_reach_the_model(tmp_path):
  """config.model.{attention, attention_chunk, logits_chunk} -> ModelConfig,
  for a preset and for a Hugging Face directory; bad values name the field."""
  # pylint: disable=g-import-not-at-top
  import ml_collections
  from r1jax import configlib
  from r1jax.models import hf
  from r1jax.trainers import common
  c = ml_collections.ConfigDict({"model": configlib.model_block("tiny"),
                                 "seed": 0})
  c.model.attention, c.model.attention_chunk = "chunked", 64
  c.model.logits_chunk = 32
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  cfg, params = common.model(c, mesh, shd.DEFAULT_RULES, 256, 0)
  assert (cfg.attention, cfg.attention_chunk, cfg.logits_chunk) == (
      "chunked", 64, 32)
  hf.save(str(tmp_path), cfg, params)
  c.model.hf_dir = str(tmp_path)
  cfg, _ = common.model(c, mesh, shd.DEFAULT_RULES, 256, 0)
  assert (cfg.attention, cfg.attention_chunk, cfg.logits_chunk) == (
      "chunked", 64, 32)
  c.model.attention = "flash"
  with pytest.raises(ValueError, match="config.model.attention='flash'"):
    common.model(c, mesh, shd.DEFAULT_RULES, 256, 0)
