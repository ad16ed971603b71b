"""Worker processes that run host reward checks under a hard time limit.

math-verify and sympy can hang on pathological input (e.g. a tower of
exponents). Each call runs in a spawned worker; a call that exceeds its time
limit gets its worker killed and replaced, and the caller receives a failure
marker instead of an exception. Workers are spawned (not forked) because the
trainer process runs multithreaded JAX.

The parent owns shutdown: workers ignore SIGTERM and SIGINT (a preemption
signals the whole process group, and the trainer finishes its step before
exiting), and exit when told, when their pipe closes or when the parent dies.
A call whose worker died is retried on a fresh worker; if it keeps dying the
call gets INFRA, which callers count as a failure.
"""
import atexit
import dataclasses
import multiprocessing as mp
from multiprocessing import connection
import os
import signal
import threading
import time
from typing import Any, Callable, Sequence

# Outcomes of one call. INFRA: the worker died (every retry), not the input.
OK, TIMEOUT, ERROR, INFRA = 'ok', 'timeout', 'error', 'infra'


@dataclasses.dataclass(frozen=True)
class CallResult:
  status: str  # OK, TIMEOUT, ERROR or INFRA.
  value: Any = None


def _exit_with_parent(parent_pid: int, period_s: float = 1.0):
  """Ends this worker once its parent is gone (it may be stuck in a call)."""
  def watch():
    while os.getppid() == parent_pid:
      time.sleep(period_s)
    os._exit(1)  # pylint: disable=protected-access
  threading.Thread(target=watch, daemon=True).start()


def _worker_main(conn, init_fn, parent_pid):
  """Runs calls sent on `conn` until it receives None or the pipe closes."""
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  _exit_with_parent(parent_pid)
  if init_fn is not None:
    init_fn()
  conn.send('ready')
  while True:
    try:
      msg = conn.recv()
    except (EOFError, OSError):
      return
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
        target=_worker_main, args=(child, init_fn, os.getpid()), daemon=True)
    self.proc.start()
    child.close()
    try:
      ready = self.conn.poll(start_timeout_s) and self.conn.recv() == 'ready'
    except (EOFError, OSError):
      ready = False
    if not ready:
      self.kill()
      raise RuntimeError('reward worker failed to start')

  @property
  def pid(self) -> int:
    return self.proc.pid

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
  must be a picklable module-level function. A call whose worker dies is
  run again on a fresh worker, at most `max_retries` more times.
  """

  def __init__(self, num_workers: int = 0, init_fn: Callable | None = None,
               start_timeout_s: float = 120.0, max_retries: int = 2):
    self._n = num_workers or max(1, min(4, os.cpu_count() or 1))
    self._init_fn = init_fn
    self._start_timeout_s = start_timeout_s
    self._max_retries = max_retries
    self._ctx = mp.get_context('spawn')
    self._workers: list[_Worker] = []
    _LIVE.add(self)

  @property
  def num_workers(self) -> int:
    return self._n

  @property
  def pids(self) -> list[int]:
    """Process ids of the running workers."""
    return [w.pid for w in self._workers]

  def _spawn(self, attempts: int = 3) -> _Worker:
    """A fresh worker; a start that fails is tried again."""
    for _ in range(attempts - 1):
      try:
        return _Worker(self._ctx, self._init_fn, self._start_timeout_s)
      except RuntimeError:
        pass
    return _Worker(self._ctx, self._init_fn, self._start_timeout_s)

  def _replace(self, w: int) -> None:
    self._workers[w].kill()
    self._workers[w] = self._spawn()

  def _send(self, w: int, msg) -> None:
    """Sends to worker w, replacing it first if it died while idle."""
    if not self._workers[w].proc.is_alive():
      self._replace(w)
    try:
      self._workers[w].conn.send(msg)
    except (OSError, ValueError):
      self._replace(w)
      self._workers[w].conn.send(msg)

  def map(self, fn: Callable, args_list: Sequence[tuple],
          timeout_s: float) -> list[CallResult]:
    """Runs fn(*args) for each args; never raises for a failing call."""
    results: list[CallResult | None] = [None] * len(args_list)
    if not args_list:
      return []
    while len(self._workers) < min(self._n, len(args_list)):
      self._workers.append(self._spawn())
    todo = list(range(len(args_list)))[::-1]
    deaths = [0] * len(args_list)
    busy = {}  # worker index -> (call index, deadline)
    while todo or busy:
      for w in range(len(self._workers)):
        if w not in busy and todo:
          i = todo.pop()
          self._send(w, (fn, args_list[i]))
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
          except (EOFError, OSError):  # The worker died (e.g. OOM, killed).
            self._replace(w)
            deaths[i] += 1
            if deaths[i] > self._max_retries:
              results[i] = CallResult(INFRA, 'worker died')
            else:
              todo.append(i)  # Next, on the fresh worker.
          del busy[w]
        elif time.monotonic() >= deadline:
          results[i] = CallResult(TIMEOUT)
          self._replace(w)
          del busy[w]
    return results  # pytype: disable=bad-return-type

  def close(self):
    for w in self._workers:
      w.close()
    self._workers = []
    _LIVE.discard(self)


_POOLS: dict[Any, TimeoutPool] = {}
# Every open pool, closed at exit before multiprocessing joins its children
# (workers ignore the SIGTERM it would send them).
_LIVE: set[TimeoutPool] = set()


def get_pool(init_fn: Callable | None = None,
             num_workers: int = 0) -> TimeoutPool:
  """A process-wide pool per (init_fn, num_workers), closed at exit."""
  key = (init_fn, num_workers)
  if key not in _POOLS:
    _POOLS[key] = TimeoutPool(num_workers, init_fn)
  return _POOLS[key]


@atexit.register
def _close_pools():
  for p in list(_LIVE):
    p.close()
