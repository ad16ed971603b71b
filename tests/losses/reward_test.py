"""Bradley-Terry and pointwise losses: values and gradients vs float64
numpy re-derivations of the formulas (Ouyang et al. 2022 eq. 1; margin as
in Llama 2; centering as in Eisenstein et al. 2023)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.losses import reward

B = 7


def _inputs():
  rng = np.random.default_rng(0)
  rc, rr = 2.0 * rng.normal(size=B), 2.0 * rng.normal(size=B)
  rr[0] = rc[0]  # a tie: counts as wrong
  margin = rng.uniform(0, 1.5, size=B)
  weights = rng.integers(0, 3, size=B).astype(np.float64)
  weights[1] = 0.0  # a padding row
  return rc, rr, margin, weights


def _np_log_sigmoid(x):
  return -np.logaddexp(0.0, -x)


def _np_bt(rc, rr, margin, center_coef, w):
  """loss, d loss / d rc, d loss / d rr by hand (float64)."""
  d = rc - rr - margin
  wn = w / w.sum()
  loss = -(wn * _np_log_sigmoid(d)).sum() + center_coef * (
      wn * (rc + rr) ** 2).sum()
  # d/dx -log s(x) = -(1 - s(x)) = -s(-x).
  dd = -wn / (1 + np.exp(d))
  dcenter = 2 * center_coef * wn * (rc + rr)
  return loss, dd + dcenter, -dd + dcenter


@pytest.mark.parametrize("use_margin", [False, True])
@pytest.mark.parametrize("center_coef", [0.0, 0.01])
@pytest.mark.parametrize("use_weights", [False, True])
def test_bradley_terry_value_and_gradient(use_margin, center_coef,
                                          use_weights):
  rc, rr, margin, w = _inputs()
  m = margin if use_margin else np.zeros(B)
  ww = w if use_weights else np.ones(B)
  want, want_gc, want_gr = _np_bt(rc, rr, m, center_coef, ww)

  def f(a, b):
    return reward.bradley_terry(
        a, b, jnp.asarray(margin, jnp.float32) if use_margin else None,
        center_coef, jnp.asarray(w, jnp.float32) if use_weights else None)

  (loss, aux), (gc, gr) = jax.value_and_grad(f, (0, 1), has_aux=True)(
      jnp.asarray(rc, jnp.float32), jnp.asarray(rr, jnp.float32))
  assert loss.dtype == jnp.float32
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  np.testing.assert_allclose(gc, want_gc, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(gr, want_gr, rtol=1e-4, atol=1e-7)
  wn = ww / ww.sum()
  np.testing.assert_allclose(aux["accuracy"], (wn * (rc > rr)).sum(),
                             rtol=1e-6)
  np.testing.assert_allclose(aux["margin"], (wn * (rc - rr)).sum(),
                             rtol=1e-5)
  np.testing.assert_allclose(aux["weight"], ww.sum())


def test_bradley_terry_is_stable_and_splits_into_microbatches():
  # Large differences: -log sigmoid(-200) = 200, not inf.
  loss, _ = reward.bradley_terry(jnp.array([-100.0]), jnp.array([100.0]))
  np.testing.assert_allclose(loss, 200.0, rtol=1e-6)
  # Weighted means recombine: loss_a * W_a/W + loss_b * W_b/W = loss.
  rc, rr, margin, w = (jnp.asarray(x, jnp.float32) for x in _inputs())
  full, _ = reward.bradley_terry(rc, rr, margin, 0.1, w)
  parts = [reward.bradley_terry(rc[s], rr[s], margin[s], 0.1, w[s])
           for s in (slice(0, 3), slice(3, B))]
  got = sum(l * a["weight"] for l, a in parts) / w.sum()
  np.testing.assert_allclose(got, full, rtol=1e-6)
  # All weights 0: a defined 0, not NaN.
  zero, _ = reward.bradley_terry(rc, rr, weights_B=jnp.zeros(B))
  assert float(zero) == 0.0


@pytest.mark.parametrize("use_weights", [False, True])
def test_pointwise_bce_value_and_gradient(use_weights):
  rng = np.random.default_rng(1)
  r = 3.0 * rng.normal(size=B)
  y = np.array([1, 0, 1, 1, 0, 0, 1], np.float64)
  _, _, _, w = _inputs()
  ww = w if use_weights else np.ones(B)
  wn = ww / ww.sum()
  p = 1 / (1 + np.exp(-r))
  want = -(wn * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum()
  want_g = wn * (p - y)  # the logistic-regression gradient

  def f(x):
    return reward.pointwise_bce(
        x, jnp.asarray(y, jnp.int32),
        jnp.asarray(w, jnp.float32) if use_weights else None)

  (loss, aux), g = jax.value_and_grad(f, has_aux=True)(
      jnp.asarray(r, jnp.float32))
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  np.testing.assert_allclose(g, want_g, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(aux["accuracy"],
                             (wn * ((r > 0) == (y > 0.5))).sum(), rtol=1e-6)
  np.testing.assert_allclose(aux["score"], (wn * r).sum(), rtol=1e-5)
