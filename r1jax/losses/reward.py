"""Reward-model losses: Bradley-Terry on pairs, binary cross-entropy on
labelled responses (float32 throughout).

Both are weighted means, sum(w * l) / sum(w): padding rows get weight 0,
and a trainer that splits a batch into micro-batches scales each
micro-batch's loss by its share of the batch's total weight, so the sum is
the full batch's loss whatever the split.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _weights(x_B, weights_B):
  if weights_B is None:
    return jnp.ones(x_B.shape, jnp.float32)
  return weights_B.astype(jnp.float32)


def _mean(x_B, w_B):
  """sum(w x) / sum(w); 0 when every weight is 0 (an all-padding batch)."""
  total = w_B.sum()
  return (w_B * x_B).sum() / jnp.where(total > 0, total, 1.0)


def bradley_terry(r_chosen_B, r_rejected_B, margin_B=None,
                  center_coef: float = 0.0, weights_B=None):
  """(loss, aux) of the Bradley-Terry preference model.

  loss = mean -log sigmoid(r+ - r- - margin)            [Ouyang et al. 2022;
         + center_coef * mean (r+ + r-)^2                margin: Llama 2]
  The second term is reward centering (Eisenstein et al. 2023): the BT loss
  only sees differences, so without it the scores drift by a constant.
  aux: `accuracy` (share of pairs with r+ > r-, ties count as wrong),
  `margin` (mean r+ - r-), `bt_loss` and `center_loss` (the two terms,
  unscaled), `weight` (sum of weights).
  """
  rc_B = r_chosen_B.astype(jnp.float32)
  rr_B = r_rejected_B.astype(jnp.float32)
  w_B = _weights(rc_B, weights_B)
  diff_B = rc_B - rr_B
  shifted_B = diff_B if margin_B is None else diff_B - margin_B.astype(
      jnp.float32)
  bt = _mean(-jax.nn.log_sigmoid(shifted_B), w_B)
  center = _mean(jnp.square(rc_B + rr_B), w_B)
  loss = bt + center_coef * center
  aux = {"accuracy": _mean((diff_B > 0).astype(jnp.float32), w_B),
         "margin": _mean(diff_B, w_B), "bt_loss": bt, "center_loss": center,
         "weight": w_B.sum()}
  return loss, aux


def pointwise_bce(r_B, label_B, weights_B=None):
  """(loss, aux): binary cross-entropy with logits r (label 1 = safe /
  good, 0 = unsafe / bad); a pointwise reward model, e.g. R1's safety RM.

  aux: `accuracy` ((r > 0) == label), `score` (mean r), `weight`.
  """
  r_B = r_B.astype(jnp.float32)
  y_B = label_B.astype(jnp.float32)
  w_B = _weights(r_B, weights_B)
  # -[y log s(r) + (1 - y) log s(-r)], stable for large |r|.
  nll_B = -(y_B * jax.nn.log_sigmoid(r_B)
            + (1 - y_B) * jax.nn.log_sigmoid(-r_B))
  hit_B = ((r_B > 0) == (y_B > 0.5)).astype(jnp.float32)
  return _mean(nll_B, w_B), {"accuracy": _mean(hit_B, w_B),
                             "score": _mean(r_B, w_B), "weight": w_B.sum()}
