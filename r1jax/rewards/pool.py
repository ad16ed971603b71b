"""Worker processes that run host reward checks under a hard time limit.

math-verify and sympy can hang on pathological input (e.g. a tower of
exponents). Each call runs in a spawned worker; a call that exceeds its time
limit gets its worker killed and replaced, and the caller receives a failure
marker instead of an exception. Workers are spawned (not forked) because the
trainer process runs multithreaded JAX.
"""
import atexit
import dataclasses
import multiprocessing as mp
from multiprocessing import connection
import os
import time
from typing import Any, Callable, Sequence

# Outcomes of one call.
OK, TIMEOUT, ERROR = 'ok', 'timeout', 'error'


@dataclasses.dataclass(frozen=True)
class CallResult:
  status: str  # OK, TIMEOUT or ERROR.
  value: Any = None


def _worker_main(conn, init_fn):
  """Runs calls sent on `conn` until it receives None."""
  if init_fn is not None:
    init_fn()
  conn.send('ready')
  while True:
    msg = conn.recv()
    if msg is None:
      return
    fn, args = msg
    try:
      conn.send((OK, fn(*args)))
    except Exception as e:  # pylint: disable=broad-except
      conn.send((ERROR, repr(e)[:500]))


class _Worker:
  """One spawned process and the pipe to it."""

  def __init__(self, ctx, init_fn, start_timeout_s):
    self.conn, child = ctx.Pipe()
    self.proc = ctx.Process(
        target=_worker_main, args=(child, init_fn), daemon=True)
    self.proc.start()
    child.close()
    if not self.conn.poll(start_timeout_s) or self.conn.recv() != 'ready':
      self.kill()
      raise RuntimeError('reward worker failed to start')

  def kill(self):
    self.proc.kill()
    self.proc.join(5)
    self.conn.close()

  def close(self):
    try:
      self.conn.send(None)
    except (OSError, ValueError):
      pass
    self.proc.join(1)
    if self.proc.is_alive():
      self.proc.kill()
      self.proc.join(5)
    self.conn.close()


class TimeoutPool:
  """A pool of worker processes; every call has its own time limit.

  Workers start lazily and stay up between batches. `fn` passed to `map`
  must be a picklable module-level function.
  """

  def __init__(self, num_workers: int = 0, init_fn: Callable | None = None,
               start_timeout_s: float = 120.0):
    self._n = num_workers or max(1, min(4, os.cpu_count() or 1))
    self._init_fn = init_fn
    self._start_timeout_s = start_timeout_s
    self._ctx = mp.get_context('spawn')
    self._workers: list[_Worker] = []

  @property
  def num_workers(self) -> int:
    return self._n

  def _spawn(self) -> _Worker:
    return _Worker(self._ctx, self._init_fn, self._start_timeout_s)

  def map(self, fn: Callable, args_list: Sequence[tuple],
          timeout_s: float) -> list[CallResult]:
    """Runs fn(*args) for each args; never raises for a failing call."""
    results: list[CallResult | None] = [None] * len(args_list)
    if not args_list:
      return []
    while len(self._workers) < min(self._n, len(args_list)):
      self._workers.append(self._spawn())
    todo = list(range(len(args_list)))[::-1]
    busy = {}  # worker index -> (call index, deadline)
    while todo or busy:
      for w in range(len(self._workers)):
        if w not in busy and todo:
          i = todo.pop()
          self._workers[w].conn.send((fn, args_list[i]))
          busy[w] = (i, time.monotonic() + timeout_s)
      nearest = min(d for _, d in busy.values())
      ready = connection.wait(
          [self._workers[w].conn for w in busy],
          timeout=max(0.0, nearest - time.monotonic()))
      for w in list(busy):
        i, deadline = busy[w]
        worker = self._workers[w]
        if worker.conn in ready:
          try:
            status, value = worker.conn.recv()
            results[i] = CallResult(status, value)
          except (EOFError, OSError):  # The worker died (e.g. OOM).
            results[i] = CallResult(ERROR, 'worker died')
            worker.kill()
            self._workers[w] = self._spawn()
          del busy[w]
        elif time.monotonic() >= deadline:
          results[i] = CallResult(TIMEOUT)
          worker.kill()
          self._workers[w] = self._spawn()
          del busy[w]
    return results  # pytype: disable=bad-return-type

  def close(self):
    for w in self._workers:
      w.close()
    self._workers = []


_POOLS: dict[Any, TimeoutPool] = {}


def get_pool(init_fn: Callable | None = None,
             num_workers: int = 0) -> TimeoutPool:
  """A process-wide pool per (init_fn, num_workers), closed at exit."""
  key = (init_fn, num_workers)
  if key not in _POOLS:
    _POOLS[key] = TimeoutPool(num_workers, init_fn)
  return _POOLS[key]


@atexit.register
def _close_pools():
  for p in _POOLS.values():
    p.close()
