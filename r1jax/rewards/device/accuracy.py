"""Jittable accuracy for the synthetic tasks, on completion tokens.

The answer is the single `<answer>` block after the last `</think>`
(`format.answer_span`), read through `class_V` (see `vocab`). Per-example
answer data comes from the task's `device_answer`:
- arithmetic / multilingual_arithmetic: `answer_B` int32; the block must be
  an optionally signed integer of at most 9 digits;
- countdown: `target_B` int32 and `numbers_BxN` int32 (padded with -1); the
  block must be an expression over + - * / ( ) using each number exactly
  once, evaluated left to right with precedence by a `lax.scan` over a
  fixed stack of parenthesis frames (depth `expr.MAX_DEPTH`). Arithmetic is
  float32 (the host verifier is exact; they agree except on results within
  1e-3 of the target that are not equal to it).
"""
import jax
import jax.numpy as jnp

from r1jax.data.tasks import expr
from r1jax.rewards import registry
from r1jax.rewards.device import format as fmt
from r1jax.rewards.device import vocab

MAX_INT_DIGITS = 9  # Fits int32.


def _classes(tokens_BxT, class_V):
  cls_BxT = class_V[jnp.clip(tokens_BxT, 0, class_V.shape[0] - 1)]
  return cls_BxT % vocab.LEAD, cls_BxT >= vocab.LEAD


def arithmetic_accuracy(tokens_BxT, mask_BxT, answer_B, class_V,
                        tags: vocab.Tags):
  """float32[B]: 1.0 where the answer block is the integer `answer_B`."""
  span_BxT, found_B = fmt.answer_span(tokens_BxT, mask_BxT, tags)
  code_BxT, lead_BxT = _classes(tokens_BxT, class_V)
  T = tokens_BxT.shape[1]
  t_1xT = jnp.arange(T, dtype=jnp.int32)[None, :]
  text_BxT = span_BxT & (code_BxT != vocab.WS)
  f_B = vocab.first(text_BxT, 0)
  l_B = vocab.last(text_BxT, -1)
  body_BxT = (t_1xT >= f_B[:, None]) & (t_1xT <= l_B[:, None])
  is_digit_BxT = code_BxT < 10
  is_sign_BxT = (code_BxT == vocab.PLUS) | (code_BxT == vocab.MINUS)
  at_f_BxT = t_1xT == f_B[:, None]
  digits_BxT = body_BxT & ~(at_f_BxT & is_sign_BxT)
  ok_B = found_B & jnp.any(text_BxT, axis=1)
  ok_B &= jnp.all(~body_BxT | text_BxT, axis=1)  # No gaps.
  ok_B &= jnp.all(~digits_BxT | is_digit_BxT, axis=1)
  ok_B &= jnp.all(~(body_BxT & lead_BxT & ~at_f_BxT), axis=1)
  n_B = digits_BxT.sum(axis=1)
  ok_B &= (n_B >= 1) & (n_B <= MAX_INT_DIGITS)
  place_BxT = jnp.clip(l_B[:, None] - t_1xT, 0, MAX_INT_DIGITS)
  pow_BxT = jnp.asarray(10, jnp.int32) ** place_BxT.astype(jnp.int32)
  value_B = jnp.sum(jnp.where(digits_BxT, code_BxT * pow_BxT, 0), axis=1)
  neg_B = jnp.any(at_f_BxT & body_BxT & (code_BxT == vocab.MINUS), axis=1)
  value_B = jnp.where(neg_B, -value_B, value_B)
  return (ok_B & (value_B == answer_B)).astype(jnp.float32)


def _evaluate(code_T, lead_T, active_T, max_numbers):
  """Evaluates one expression; (ok, value, numbers_N)."""
  D = expr.MAX_DEPTH + 1
  f32 = jnp.float32
  init = dict(
      ok=jnp.bool_(True), depth=jnp.int32(0), expect=jnp.bool_(True),
      sum=jnp.zeros((D,), f32), term=jnp.zeros((D,), f32),
      sign=jnp.ones((D,), f32), mulop=jnp.zeros((D,), jnp.int32),
      in_num=jnp.bool_(False), num=f32(0), ndig=jnp.int32(0),
      nums=jnp.full((max_numbers,), -1, jnp.int32), count=jnp.int32(0))

  def apply_value(s, v):
    d = s['depth']
    t = s['term'][d]
    op = s['mulop'][d]
    bad = (op == 2) & (v == 0)
    new = jnp.where(op == 0, v, jnp.where(op == 1, t * v,
                                          t / jnp.where(bad, 1.0, v)))
    return dict(s, term=s['term'].at[d].set(new), ok=s['ok'] & ~bad)

  def finish_number(s):
    s2 = apply_value(s, s['num'])
    idx = jnp.minimum(s['count'], max_numbers - 1)
    s2 = dict(s2, nums=s2['nums'].at[idx].set(s['num'].astype(jnp.int32)),
              count=s['count'] + 1, in_num=jnp.bool_(False),
              ok=s2['ok'] & (s['count'] < max_numbers)
              & (s['ndig'] <= expr.MAX_DIGITS))
    return jax.tree.map(lambda a, b: jnp.where(s['in_num'], a, b), s2, s)

  def step(s, x):
    code, lead, active = x
    is_digit = code < 10
    ends_num = ~is_digit | lead
    s1 = jax.tree.map(lambda a, b: jnp.where(ends_num, a, b),
                      finish_number(s), s)
    d = s1['depth']
    ok, expect = s1['ok'], s1['expect']
    # Digit: start a number (needs a value slot) or extend the current one.
    start = is_digit & ~s1['in_num']
    dig = dict(s1, num=jnp.where(start, code, s1['num'] * 10 + code),
               ndig=jnp.where(start, 1, s1['ndig'] + 1),
               in_num=jnp.bool_(True), expect=jnp.bool_(False),
               ok=ok & (~start | expect))
    # + - : close the term into the sum.
    addsub = dict(s1, sum=s1['sum'].at[d].add(s1['sign'][d] * s1['term'][d]),
                  sign=s1['sign'].at[d].set(
                      jnp.where(code == vocab.PLUS, 1.0, -1.0)),
                  mulop=s1['mulop'].at[d].set(0), expect=jnp.bool_(True),
                  ok=ok & ~expect)
    muldiv = dict(s1, mulop=s1['mulop'].at[d].set(
        jnp.where(code == vocab.TIMES, 1, 2)), expect=jnp.bool_(True),
                  ok=ok & ~expect)
    dn = jnp.minimum(d + 1, D - 1)
    lparen = dict(s1, depth=dn, sum=s1['sum'].at[dn].set(0.0),
                  term=s1['term'].at[dn].set(0.0),
                  sign=s1['sign'].at[dn].set(1.0),
                  mulop=s1['mulop'].at[dn].set(0),
                  ok=ok & expect & (d + 1 < D))
    inner = s1['sum'][d] + s1['sign'][d] * s1['term'][d]
    rp = apply_value(dict(s1, depth=jnp.maximum(d - 1, 0)), inner)
    rparen = dict(rp, expect=jnp.bool_(False), ok=rp['ok'] & ~expect & (d > 0))
    other = dict(s1, ok=jnp.bool_(False))
    branch = jnp.select(
        [~active, code == vocab.WS, is_digit,
         (code == vocab.PLUS) | (code == vocab.MINUS),
         (code == vocab.TIMES) | (code == vocab.DIVIDE),
         code == vocab.LPAREN, code == vocab.RPAREN],
        [jnp.int32(i) for i in range(7)], jnp.int32(7))
    options = [s, s1, dig, addsub, muldiv, lparen, rparen, other]
    new = jax.tree.map(lambda *xs: jnp.stack(xs)[branch], *options)
    return new, None

  s, _ = jax.lax.scan(step, init, (code_T, lead_T, active_T))
  s = finish_number(s)
  ok = s['ok'] & ~s['expect'] & (s['depth'] == 0)
  return ok, s['sum'][0] + s['sign'][0] * s['term'][0], s['nums']


def countdown_accuracy(tokens_BxT, mask_BxT, target_B, numbers_BxN, class_V,
                       tags: vocab.Tags):
  """float32[B]: 1.0 where the answer block reaches the target using each
  number exactly once."""
  span_BxT, found_B = fmt.answer_span(tokens_BxT, mask_BxT, tags)
  code_BxT, lead_BxT = _classes(tokens_BxT, class_V)
  n = numbers_BxN.shape[1]
  ok_B, value_B, used_BxN = jax.vmap(
      lambda c, l, a: _evaluate(c, l, a, n))(code_BxT, lead_BxT, span_BxT)
  same_B = jnp.all(jnp.sort(used_BxN, axis=1)
                   == jnp.sort(numbers_BxN, axis=1), axis=1)
  hit_B = jnp.abs(value_B - target_B.astype(jnp.float32)) < 1e-3
  return (found_B & ok_B & same_B & hit_B).astype(jnp.float32)


@registry.register_device('accuracy')
def accuracy_twin(batch):
  """The task's jnp verifier (`Task.device_accuracy`), computed once per
  batch (cosine reads it too)."""
  if 'accuracy' not in batch.cache:
    batch.cache['accuracy'] = batch.task.device_accuracy(
        batch.tokens_BxM, batch.mask_BxM, batch.answers, batch.class_V,
        batch.tags)
  return batch.cache['accuracy']
