"""Runs untrusted Python programs (model-written code) outside the trainer.

`run_program(source, stdin, limits)` runs `source` in a fresh interpreter
(`python -I -S -B -X utf8`: no site-packages, the stdlib only; `exit()` and
`quit()` work) in its own process tree and session, in a fresh temporary
directory (removed after), with an empty environment (LANG, LC_ALL, HOME and
TMPDIR only) and limits on address space, CPU time, wall time, processes,
file size and output size. The run ends when the program's main process
exits; whatever it left running is killed. Nothing the program does raises
into the caller: the `Result` says how it ended (STATUSES), and a sandbox
that could not start is "infrastructure_error" (`Pool` retries those).

Isolation (`isolation()` reports what this machine allows, probed once):
* Namespaces (unprivileged user namespaces; no root or setuid helper). A
  launcher unshares user, network, mount, pid, IPC and UTS namespaces:
  - network: the new namespace has only a loopback that is down;
  - processes: the launcher is the pid namespace's init; when it exits the
    kernel kills every process left in it, also ones that double-forked
    into a new session; the wall-time kill is "SIGKILL the init". /proc
    shows only the sandbox's processes (so not the trainer's environ);
  - files: every mount is made read-only, nosuid and nodev, except the
    working directory (a private tmpfs of 4 * file_mb MiB, gone with the
    namespace) and /dev/{null,zero,full,random,urandom}. The program runs
    in a nested user namespace, which locks those flags, and may not create
    namespaces of its own. Reading is limited only by the user's own file
    permissions.
* Process count: a pids cgroup where this process's own cgroup is the root
  of a writable hierarchy (a container's or the machine's, as root; never
  nested in a cgroup a supervisor manages); a memory cgroup likewise, which
  also counts tmpfs and memfd pages that RLIMIT_AS misses. Else
  RLIMIT_NPROC, which Linux >= 5.14 counts per user namespace, i.e. per
  program. Root ignores RLIMIT_NPROC: as root without a pids cgroup the
  process count is unbounded (isolation() says so).
* Fallbacks. Without mount_setattr (Linux < 5.12): no read-only mounts.
  Without user namespaces (e.g. Docker's default seccomp profile): a plain
  child process that is a child subreaper (kills and reaps every orphaned
  descendant; were it SIGKILLed itself, they would escape) with
  RLIMIT_NPROC = the user's current task count plus `processes`. Both add
  a Python audit hook that refuses sockets, exec and subprocesses, ctypes,
  signals to processes that are not descendants, writes outside the
  working directory and reading other processes' /proc.
  The hook guards against accidents, not attacks: Python code that
  monkeypatches the modules the hook uses, or native code, gets past it.
Memory: RLIMIT_AS is per process; without a memory cgroup a program may use
`processes * memory_mb` in all.
"""
from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from r1jax.rewards import sandbox_cgroups
from r1jax.rewards import sandbox_scripts
from typing import Sequence

STATUSES = ("ok", "runtime_error", "timeout", "memory_limit", "output_limit",
            "infrastructure_error")
# The interpreter of the launcher and the program (a test breaks it).
_INTERPRETER = os.path.realpath(sys.executable)
_FLAGS = ("-I", "-S", "-B", "-X", "utf8")
_SETUP_S = 30.0  # no "ready" from the launcher by then: infrastructure_error
_STOP_GRACE_S = 2.0  # SIGTERM to the launcher, then SIGKILL to its group


@dataclasses.dataclass(frozen=True)
class Limits:
  """What one program may use."""
  wall_s: float = 10.0  # wall-clock seconds per program
  cpu_s: float = 10.0  # CPU seconds per process (RLIMIT_CPU)
  memory_mb: int = 1024  # address space per process (RLIMIT_AS), MiB
  processes: int = 32  # processes and threads of one program
  file_mb: int = 16  # largest file the program may write (RLIMIT_FSIZE)
  output_kb: int = 1024  # stdout and stderr each; more -> "output_limit"


@dataclasses.dataclass
class Result:
  """How one program ended."""
  status: str  # one of STATUSES ("ok" = exited 0, within limits)
  exit_code: int | None  # None when killed by a signal or never started
  stdout: str
  stderr: str  # each at most output_kb (UTF-8, bad bytes replaced)
  wall_s: float  # seconds from the program's start to its end
  detail: str = ""  # e.g. the signal, the infrastructure error's cause


@dataclasses.dataclass(frozen=True)
class _Mode:
  userns: bool  # user, network, mount, pid, IPC and UTS namespaces
  ro: bool  # read-only mounts and a tmpfs working directory
  hook: bool  # the Python-level audit hook


# Strongest first; the first that runs a program is used.
_MODES = (_Mode(True, True, False), _Mode(True, False, True),
          _Mode(False, False, True))
_STATE = {"mode": None, "isolation": None}
_PROBE_LOCK = threading.Lock()


# Pids and memory cgroups: r1jax/rewards/sandbox_cgroups.py. The launcher
# and the audit hook: r1jax/rewards/sandbox_scripts.py.
_LAUNCHER, _HOOK = sandbox_scripts.LAUNCHER, sandbox_scripts.HOOK

# ----------------------------------------------------------------- running
def _user_tasks() -> int:
  """Tasks of this real uid: RLIMIT_NPROC counts them all outside a user
  namespace, threads of the trainer included."""
  n, uid = 0, str(os.getuid())
  for p in os.listdir("/proc"):
    try:
      with open(f"/proc/{p}/status") as f:
        st = f.read()
      if re.search(rf"^Uid:\s+{uid}\s", st, re.M):
        n += int(re.search(r"^Threads:\s+(\d+)", st, re.M).group(1))
    except (OSError, AttributeError):
      pass
  return n


def _alive(pid: int) -> bool:
  """Whether our child `pid` has not exited yet (without reaping it)."""
  return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def _stop(proc: subprocess.Popen):
  """Ends the launcher, which ends the program's tree, and reaps it."""
  if _alive(proc.pid):
    proc.send_signal(signal.SIGTERM)
    t = time.monotonic() + _STOP_GRACE_S
    while _alive(proc.pid) and time.monotonic() < t:
      time.sleep(0.001)
  try:  # whatever is left in its group; not reaped, so the group is ours
    os.killpg(proc.pid, signal.SIGKILL)
  except ProcessLookupError:
    pass
  proc.wait()


class _Pipes:
  """Reads stdout, stderr (each kept up to `cap` bytes) and the status
  pipe without blocking; knows when the launcher has exited (a pidfd)."""

  def __init__(self, proc: subprocess.Popen, status_r: int, cap: int):
    self.proc, self.cap, self.over = proc, cap, False
    self.fds = [proc.stdout.fileno(), proc.stderr.fileno(), status_r]
    self.bufs = {fd: bytearray() for fd in self.fds}
    self.sel = selectors.DefaultSelector()
    for fd in self.fds:
      os.set_blocking(fd, False)
      self.sel.register(fd, selectors.EVENT_READ)
    try:
      self.pidfd = os.pidfd_open(proc.pid)
      self.sel.register(self.pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):  # Linux < 5.3: poll every 5 ms
      self.pidfd = None

  def pump(self, timeout: float) -> bool:
    """Reads what comes within `timeout` s; True if the launcher exited."""
    if self.pidfd is None:
      timeout = min(timeout, 0.005)
    for key, _ in self.sel.select(max(timeout, 0.0)):
      if key.fd == self.pidfd:  # readable once the launcher exited
        self.sel.unregister(key.fd)
        continue
      try:
        chunk = os.read(key.fd, 1 << 16)
      except BlockingIOError:
        continue
      if not chunk:
        self.sel.unregister(key.fd)
      room = len(chunk) if key.fd == self.fds[2] else (
          self.cap - len(self.bufs[key.fd]))
      self.bufs[key.fd] += chunk[:max(room, 0)]
      self.over |= len(chunk) > room
    return self.proc.returncode is not None or not _alive(self.proc.pid)

  def drain(self, seconds: float):
    """What is left after the launcher exited, until EOF or `seconds`."""
    t = time.monotonic() + seconds
    while len(self.sel.get_map()) > (
        self.pidfd in self.sel.get_map()) and time.monotonic() < t:
      self.pump(0.01)

  def records(self) -> dict:
    out = {}
    for line in self.bufs[self.fds[2]].decode().splitlines():
      try:
        out.update(ast.literal_eval(line))
      except (ValueError, SyntaxError):
        pass
    return out

  def text(self, i: int) -> str:
    return self.bufs[self.fds[i]].decode("utf-8", "replace")

  def close(self):
    self.sel.close()
    for fd in (self.pidfd, self.fds[2]):
      if fd is not None:
        os.close(fd)


def _oom_kills() -> int:
  """The kernel's OOM kills so far (/proc/vmstat), for a SIGKILL's cause."""
  try:
    with open("/proc/vmstat") as f:
      m = re.search(r"^oom_kill (\d+)", f.read(), re.M)
    return int(m.group(1)) if m else 0
  except OSError:
    return 0


def _verdict(rec: dict, stderr: str, limits: Limits, oom_cgroup: bool,
             oom_any: bool) -> tuple[str, int | None, str]:
  """(status, exit code, detail) of a program that ended by itself, from
  the reaper's record. `oom_cgroup`: OOM kills in its memory cgroup;
  `oom_any`: anywhere on the machine (only a SIGKILL is blamed on it)."""
  code, sig = rec.get("exit"), rec.get("signal")
  if code == 0:
    return "ok", 0, ""
  if code is not None:
    if re.search(r"^MemoryError\b", stderr, re.M) or oom_cgroup:
      return "memory_limit", code, "MemoryError or the OOM killer"
    return "runtime_error", code, f"exit status {code}"
  if sig is None:  # the reaper itself died
    if oom_cgroup or oom_any:
      return "memory_limit", None, "the OOM killer killed the sandbox"
    return "infrastructure_error", None, "the sandbox's launcher died"
  try:
    name = signal.Signals(sig).name
  except ValueError:
    name = f"signal {sig}"
  if sig == signal.SIGXCPU:
    return "timeout", None, f"CPU time limit {limits.cpu_s} s ({name})"
  if sig == signal.SIGKILL and (oom_cgroup or oom_any):
    return "memory_limit", None, f"the OOM killer ({name})"
  return "runtime_error", None, f"killed by {name}"


def _run(source: str, stdin: str, limits: Limits, root: str | None,
         mode: _Mode) -> tuple[Result, dict]:
  """One program under `mode`, and the launcher's facts; raises OSError
  where it could not start."""
  run = tempfile.mkdtemp(prefix="r1jax-sbx-", dir=root)
  cgroups, proc, pipes = {}, None, None
  try:
    work = os.path.join(run, "work")
    os.mkdir(work, 0o700)
    for name, text in (("main.py", source), ("stdin", stdin)):
      with open(os.path.join(run, name), "w", encoding="utf-8") as f:
        f.write(text)
    cgroups, cg_ooms = sandbox_cgroups.take(limits, 2 if mode.userns else 1)
    cfg = {"prog": os.path.join(run, "main.py"), "work": work,
           "userns": mode.userns, "ro": mode.ro, "hook": mode.hook,
           "hook_src": _HOOK if mode.hook else "", "tmpfs_mb":
           4 * limits.file_mb, "limits": dataclasses.asdict(limits),
           "nproc": limits.processes + (0 if mode.userns else _user_tasks()),
           "cgroups": [os.path.join(d, "cgroup.procs")
                       for d in set(cgroups.values())]}
    env = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": work,
           "TMPDIR": work}
    oom_before, t0 = _oom_kills(), time.monotonic()
    status_r, status_w = os.pipe()
    try:
      with open(os.path.join(run, "stdin"), "rb") as fin:
        proc = subprocess.Popen(
            [_INTERPRETER, *_FLAGS, "-c", _LAUNCHER,
             repr(dict(cfg, fd=status_w))],
            stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=run, env=env, pass_fds=(status_w,), start_new_session=True)
    except BaseException:
      os.close(status_r)
      raise
    finally:
      os.close(status_w)
    pipes = _Pipes(proc, status_r, limits.output_kb << 10)
    reason, ready = "", None
    while not reason:
      now = time.monotonic()
      end = ready + limits.wall_s if ready else t0 + _SETUP_S
      if now >= end:
        reason = "timeout" if ready else "setup"
        break
      exited = pipes.pump(end - now)
      if ready is None and "ready" in pipes.records():
        ready = time.monotonic()
      reason = "output_limit" if pipes.over else "exited" if exited else ""
    _stop(proc)
    pipes.drain(0.5)
    wall = time.monotonic() - (ready or t0)
    rec, stdout, stderr = pipes.records(), pipes.text(0), pipes.text(1)
    if ready is None:
      cause = rec.get("error") or (
          f"no sandbox within {_SETUP_S} s" if reason == "setup" else
          f"the launcher exited {proc.returncode}: {stderr[-500:]}")
      return Result("infrastructure_error", None, "", stderr, wall, cause), rec
    if pipes.over:
      status, code, detail = ("output_limit", None,
                              f"more than output_kb={limits.output_kb}")
    elif reason == "timeout":
      status, code, detail = "timeout", None, f"wall_s={limits.wall_s}"
    else:
      status, code, detail = _verdict(
          rec, stderr, limits, sandbox_cgroups.ooms(cgroups) > cg_ooms,
          _oom_kills() > oom_before)
    return Result(status, code, stdout, stderr, wall, detail), rec
  finally:
    if proc is not None:
      if proc.returncode is None:
        _stop(proc)
      proc.stdout.close()
      proc.stderr.close()
    if pipes is not None:
      pipes.close()
    sandbox_cgroups.give(cgroups)
    _rmtree(run)


def _rmtree(path: str):
  """Removes a run directory, also where the program chmod'ed it; never
  raises (a result matters more than a leftover directory)."""
  def fix(func, p, _):
    for d in (os.path.dirname(p), p):
      try:
        os.chmod(d, 0o700)
      except OSError:
        pass
    func(p)
  try:
    shutil.rmtree(path, onerror=fix)
  except OSError:
    shutil.rmtree(path, ignore_errors=True)


def _probe() -> _Mode | None:
  """The strongest mode this machine allows, cached; None (not cached)
  when no mode runs a program."""
  with _PROBE_LOCK:
    if _STATE["mode"] is None:
      try:
        sandbox_cgroups.STATE["cgroups"] = sandbox_cgroups.bases()
      except (OSError, ValueError):
        sandbox_cgroups.STATE["cgroups"] = {}
      why, lim = [], Limits(wall_s=20, cpu_s=5, memory_mb=512, processes=8)
      for mode in _MODES:
        for _ in range(2):  # a second try, so a passing hiccup is no reason
          try:
            res, facts = _run("print(1)", "", lim, None, mode)
          except OSError as e:
            res, facts = Result("infrastructure_error", None, "", "", 0,
                                f"{type(e).__name__}: {e}"), {}
          if res.status == "ok" and res.stdout == "1\n":
            _STATE["isolation"] = _describe(mode, facts.get("ready", {}),
                                            why)
            _STATE["mode"] = mode
            return mode
        why.append(f"{mode}: {res.status}: {res.detail} {res.stderr[-200:]}")
      _STATE["isolation"] = dict.fromkeys(
          ("mode", "network", "pids", "processes", "memory", "filesystem"),
          "none: no mode runs a program here")
      _STATE["isolation"]["fallbacks"] = "; ".join(why)
    return _STATE["mode"]


def _describe(mode: _Mode, facts: dict, why: list[str]) -> dict[str, str]:
  cg, hook = sandbox_cgroups.STATE["cgroups"], "a Python audit hook (against accidents)"
  return {
      "mode": "namespaces: user, net, mount, pid, ipc, uts" if mode.userns
              else "plain process",
      "network": "netns (a new network namespace)" if mode.userns else
                 "none: sockets refused by " + hook,
      "pids": ("pid namespace, /proc " + facts.get("proc", "?") if
               mode.userns else "child subreaper; signals to other "
               "processes refused by " + hook),
      "processes": "cgroup pids.max" if "pids" in cg else
                   "none: root ignores RLIMIT_NPROC" if os.getuid() == 0 else
                   "RLIMIT_NPROC per user namespace" if mode.userns else
                   "RLIMIT_NPROC above the user's task count",
      "memory": "RLIMIT_AS per process" + (
          " + memory cgroup" if "memory" in cg else " (no memory cgroup)"),
      "filesystem": "read-only mounts, a private tmpfs working directory"
                    if mode.ro else "a fresh working directory, "
                    "RLIMIT_FSIZE; other writes refused by " + hook,
      "new_namespaces": facts.get("new_namespaces", "n/a"),
      "interpreter": " ".join((_INTERPRETER,) + _FLAGS),
      "fallbacks": "; ".join(why) or "none",
  }


def isolation() -> dict[str, str]:
  """What this machine allows, probed once and cached: network, pids,
  processes, memory, filesystem, and why stronger modes failed."""
  _probe()
  return dict(_STATE["isolation"])


def run_program(source: str, stdin: str = "", limits: Limits = Limits(), *,
                tmp_root: str | None = None) -> Result:
  """Runs Python `source` with `stdin` in the sandbox; never raises for what
  the program does. Where it could not be started: "infrastructure_error",
  with the cause in `detail`. `tmp_root`: where its temporary directory goes
  (default: tempfile.gettempdir())."""
  try:
    mode = _probe()
    if mode is None:
      return Result("infrastructure_error", None, "", "", 0.0,
                    "no sandbox mode works here: " +
                    _STATE["isolation"]["fallbacks"])
    return _run(source, stdin, limits, tmp_root, mode)[0]
  except Exception as e:  # pylint: disable=broad-except
    return Result("infrastructure_error", None, "", "", 0.0,
                  f"{type(e).__name__}: {e}")


class Pool:
  """Runs many programs in parallel, `max_workers` at a time (threads, each
  waiting on a sandboxed child); retries infrastructure errors up to
  `retries` times."""

  def __init__(self, max_workers: int = 2, limits: Limits = Limits(),
               retries: int = 2, *, tmp_root: str | None = None):
    if max_workers < 1 or retries < 0:
      raise ValueError(f"Pool: max_workers={max_workers} must be >= 1 and "
                       f"retries={retries} >= 0")
    self.limits, self.retries, self.tmp_root = limits, retries, tmp_root
    self._ex = concurrent.futures.ThreadPoolExecutor(
        max_workers, thread_name_prefix="sandbox")

  def _one(self, source: str, stdin: str, limits: Limits) -> Result:
    for attempt in range(self.retries + 1):
      res = run_program(source, stdin, limits, tmp_root=self.tmp_root)
      if res.status != "infrastructure_error":
        break
      res.detail += f" (attempt {attempt + 1} of {self.retries + 1})"
    return res

  def run(self, jobs: Sequence[tuple[str, str]],
          limits: Limits | None = None) -> list[Result]:
    """(source, stdin) per job -> their Results, in order."""
    lim = limits or self.limits
    futs = [self._ex.submit(self._one, src, inp, lim) for src, inp in jobs]
    return [f.result() for f in futs]

  def close(self):
    self._ex.shutdown(wait=True)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
