"""The one reward registry: every device twin equals its host function on
the same completions, under the same metric names, through one combiner;
options have one set of defaults; scopes route rows and gate steps."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.data import tasks
from r1jax.rewards import combiner
from r1jax.rewards import registry
from r1jax.rewards import total
from r1jax.rewards.device import combine
from r1jax.rewards.device import testing

V = testing.CharVocab()
M = 160  # longer than every completion (none is cut)
ARITH = tasks.get('arithmetic', num_ops=1, max_operand=5)
COUNTDOWN = tasks.get('countdown')


def _rows(task, n=8):
  """Examples and completions: right, wrong, unformatted, long, truncated."""
  exs = task.examples(3, 0, n)
  texts, truncated = [], []
  for i, ex in enumerate(exs):
    ans = ex['answer'] if i % 3 != 1 else '999'
    body = 'x' * (5 + 9 * i)
    text = (f'<think>{body}</think><answer>{ans}</answer>' if i % 4 != 3
            else f'{body} {ans}')
    texts.append(text)
    truncated.append(i % 5 == 4)
  return exs, texts, np.asarray(truncated)


WEIGHTS = {'accuracy': 1.0, 'format': 0.5, 'overlong': 0.3, 'cosine': 0.2,
           'truncation': 0.7}
OPTIONS = {'overlong': {'max_len': 60, 'cache_len': 20},
           'cosine': {'max_len': 60}}


@pytest.mark.parametrize('task', [ARITH, COUNTDOWN], ids=lambda t: t.name)
def test_device_twins_equal_host_with_same_metric_names(task):
  exs, texts, trunc_B = _rows(task)
  tokens, mask = V.batch(texts, M)
  lengths_B = np.asarray(mask).sum(1)
  batch = registry.RewardBatch(texts, exs, lengths_B=lengths_B,
                               truncated_B=trunc_B)
  opts = total.with_template(OPTIONS, False)
  host_total, host_m = total.compute_rewards(batch, WEIGHTS, opts,
                                             report=('accuracy', 'format'))
  spec = combine.DeviceRewardSpec.from_config(WEIGHTS, OPTIONS, task,
                                              V.tags())
  answers = {k: jnp.asarray(np.stack([task.device_answer(e)[k]
                                      for e in exs]))
             for k in task.device_answer(exs[0])}

  @jax.jit
  def dev(tokens, mask, trunc, answers):
    db = combine.DeviceBatch(tokens, mask, trunc, answers, V.classes(),
                             spec.tags, task=task)
    return combine.score(spec, db)[:2]

  dev_total, dev_m = dev(tokens, mask, jnp.asarray(trunc_B), answers)
  np.testing.assert_allclose(dev_total, host_total, atol=1e-6)
  # Host-only counts (accuracy's timeouts, no_answer, ...) aside, the same
  # names and values.
  own = {f'reward/accuracy/{k}' for k in ('timeouts', 'errors', 'infra',
                                          'no_answer', 'answer_too_long')}
  assert set(dev_m) == set(host_m) - own
  for k, v in dev_m.items():
    assert float(v) == pytest.approx(host_m[k], abs=1e-6), k
  # The rows differ: the test is not trivially equal.
  assert 0 < host_m['reward/accuracy'] < 1 and host_m['reward/format'] < 1


def test_every_twin_takes_only_host_options_without_defaults():
  for name in registry.device_names():
    host_params = inspect.signature(registry.get(name)).parameters
    for p in list(inspect.signature(registry.device(name)).parameters)[1:]:
      assert p in host_params, (name, p)
  with pytest.raises(ValueError, match='without defaults'):
    registry.register_device('format')(lambda batch, think_opened=1: 0)
  with pytest.raises(ValueError, match='no host reward'):
    registry.register_device('nope')(lambda batch: 0)


def test_options_defaults_are_the_signatures():
  opts = total.default_reward_options().to_dict()
  assert sorted(opts) == registry.names()
  assert opts['overlong'] == {'max_len': 4096, 'cache_len': 512}
  assert opts['accuracy']['timeout_s'] == 5.0
  assert 'think_opened' not in opts['format']
  # A changed signature default changes the config default: one source.
  sig = inspect.signature(registry.get('repetition')).parameters
  assert opts['repetition']['ngram'] == sig['ngram'].default


def test_scope_routes_rows_and_gates_steps_on_both_paths():
  exs, texts, trunc_B = _rows(ARITH, 6)
  for i, e in enumerate(exs):
    e['source'] = 'general' if i % 2 else 'reasoning'
  tokens, mask = V.batch(texts, M)
  batch = registry.RewardBatch(texts, exs,
                               lengths_B=np.asarray(mask).sum(1),
                               truncated_B=trunc_B)
  w = {'accuracy': 1.0, 'format': 1.0}
  block = {'accuracy': {'sources': 'reasoning'},
           'format': {'sources': 'general', 'start_step': 5}}
  scopes = combiner.scopes(block, registry.names())
  ids = combiner.source_ids(scopes)
  spec = combine.DeviceRewardSpec.from_config(w, {}, ARITH, V.tags(),
                                              scope=block)
  answers = {'answer': jnp.asarray([int(e['answer']) for e in exs])}
  src_B = jnp.asarray([ids.get(e['source'], 0) for e in exs])
  acc = np.asarray([float(ARITH.verify(t.split('<answer>')[-1].split('<')[0]
                                       if '<answer>' in t else None, e))
                    for t, e in zip(texts, exs)])
  for step in (0, 5):
    want_total, want_m = total.compute_rewards(batch, w, report=(),
                                               scope=scopes, step=step)
    db = combine.DeviceBatch(tokens, mask, jnp.asarray(trunc_B), answers,
                             V.classes(), V.tags(), task=ARITH)
    got_total, got_m, _ = combine.score(spec, db, step, src_B)
    np.testing.assert_allclose(got_total, want_total, atol=1e-6)
    for k in ('reward/accuracy', 'reward/format', 'reward/total'):
      assert float(got_m[k]) == pytest.approx(want_m[k], abs=1e-6), (step, k)
    # A numpy re-derivation: accuracy on reasoning rows, format on general
    # rows from step 5.
    fmt = np.asarray([float(t.startswith('<think>')) for t in texts])
    reasoning = np.arange(6) % 2 == 0
    expect = np.where(reasoning, acc, 0) + (step >= 5) * np.where(
        ~reasoning, fmt, 0)
    np.testing.assert_allclose(want_total, expect, atol=1e-6)
    assert want_m['reward/accuracy'] == pytest.approx(acc[reasoning].mean())


def test_scope_errors_name_the_field():
  with pytest.raises(ValueError, match='reward_scope.format.start_step'):
    combiner.scopes({'format': {'start_step': -1}}, ['format'])
  with pytest.raises(ValueError, match='not rewards'):
    combiner.scopes({'bogus': {}}, ['format'])
  with pytest.raises(ValueError, match='unknown fields'):
    combiner.scopes({'format': {'start': 3}}, ['format'])


def test_weighted_reward_without_twin_or_device_task_fails():
  with pytest.raises(ValueError, match='config.rewards.language'):
    combine.DeviceRewardSpec.from_config({'language': 1.0}, {}, ARITH,
                                         V.tags())
  with pytest.raises(ValueError, match='no device accuracy'):
    combine.DeviceRewardSpec.from_config({'accuracy': 1.0}, {}, None,
                                         V.tags())
