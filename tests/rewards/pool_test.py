"""The time-limited worker pool."""
import time

from r1jax.rewards import pool


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
