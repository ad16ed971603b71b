"""The time-limited worker pool: time limits, errors, signals, dead workers."""
import os
import signal
import threading
import time

from r1jax.rewards import accuracy
from r1jax.rewards import pool
from r1jax.rewards import registry


def _double(x):
  return 2 * x


def _sleep(s):
  time.sleep(s)
  return s


def _boom(_):
  raise ZeroDivisionError('boom')


def test_results_timeouts_and_errors_never_raise():
  p = pool.TimeoutPool(num_workers=2)
  try:
    assert [r.value for r in p.map(_double, [(1,), (2,), (3,)], 5.0)] == [
        2, 4, 6]
    t0 = time.monotonic()
    res = p.map(_sleep, [(30.0,), (0.0,)], 1.0)
    assert time.monotonic() - t0 < 20
    assert [r.status for r in res] == [pool.TIMEOUT, pool.OK]
    res = p.map(_boom, [(0,)], 5.0)
    assert res[0].status == pool.ERROR and 'boom' in res[0].value
    # The pool still works after a killed worker.
    assert p.map(_double, [(5,)], 5.0)[0].value == 10
  finally:
    p.close()


def _kill_self(_):
  os.kill(os.getpid(), signal.SIGKILL)


def _signal_later(pids, sig, delay_s):
  def send():
    time.sleep(delay_s)
    for pid in pids:
      os.kill(pid, sig)
  t = threading.Thread(target=send)
  t.start()
  return t


def test_workers_survive_sigterm_and_sigint_mid_call():
  p = pool.TimeoutPool(num_workers=2)
  try:
    p.map(_double, [(0,), (0,)], 30.0)  # Start both workers.
    pids = p.pids
    t = _signal_later(pids, signal.SIGTERM, 0.3)
    t2 = _signal_later(pids, signal.SIGINT, 0.4)
    res = p.map(_sleep, [(1.0,), (1.0,), (0.5,)], 30.0)
    t.join()
    t2.join()
    assert [(r.status, r.value) for r in res] == [
        (pool.OK, 1.0), (pool.OK, 1.0), (pool.OK, 0.5)]
    assert p.pids == pids  # Nobody died.
  finally:
    p.close()


def test_call_whose_worker_is_killed_is_retried():
  p = pool.TimeoutPool(num_workers=2)
  try:
    p.map(_double, [(0,), (0,)], 30.0)
    pids = p.pids
    t = _signal_later(pids[:1], signal.SIGKILL, 0.3)
    res = p.map(_sleep, [(1.0,), (1.0,)], 30.0)
    t.join()
    assert [(r.status, r.value) for r in res] == [(pool.OK, 1.0)] * 2
    assert p.pids[0] != pids[0] and p.pids[1] == pids[1]
    # A worker killed while idle is replaced before the next call.
    os.kill(p.pids[1], signal.SIGKILL)
    time.sleep(0.2)
    assert [r.value for r in p.map(_double, [(1,), (2,)], 30.0)] == [2, 4]
  finally:
    p.close()


def test_call_that_always_kills_its_worker_is_an_infra_failure():
  p = pool.TimeoutPool(num_workers=1, max_retries=1)
  try:
    res = p.map(_kill_self, [(0,)], 30.0)
    assert res[0].status == pool.INFRA
    assert p.map(_double, [(3,)], 30.0)[0].value == 6
  finally:
    p.close()


class _InfraPool:

  def map(self, fn, args_list, timeout_s):
    del fn, timeout_s
    return [pool.CallResult(pool.INFRA, 'worker died')] * len(args_list)


def test_accuracy_counts_infra_failures(monkeypatch):
  monkeypatch.setattr(pool, 'get_pool', lambda *a, **k: _InfraPool())
  batch = registry.RewardBatch(
      ['<answer>\\frac{1}{2}</answer>', 'no answer'],
      [{'prompt': 'p', 'answer': '1/2'}] * 2)
  res = accuracy.accuracy(batch)
  assert res.values_B.tolist() == [0.0, 0.0]
  assert res.failures == 1 and res.metrics['infra'] == 1
