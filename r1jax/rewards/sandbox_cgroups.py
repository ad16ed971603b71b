"""Sandbox cgroups (r1jax/rewards/sandbox.py): a pids and a memory cgroup
per program where this process may create them, never inside a cgroup a
supervisor manages; empty ones are reused."""

import atexit
import os
import re
import threading
import time

# bases: 'pids'/'memory' -> where to create them ({}: none, probed by the
# sandbox); n: runs so far; free_cgroups: empty ones kept for reuse.
STATE = {"cgroups": {}, "n": 0, "free_cgroups": []}
_LOCK = threading.Lock()


def bases() -> dict[str, str]:
  """'pids'/'memory' -> the directory to create this process's sandbox
  cgroups in: only where our own cgroup is its hierarchy's root (a
  container's or the machine's), writable, and has the controller (v1, or
  v2 with it in subtree_control); never inside a cgroup that a supervisor
  (systemd, a job runner) manages."""
  own, bases = {}, {}
  with open("/proc/self/cgroup") as f:
    for line in f:
      _, ctrls, path = line.rstrip("\n").split(":", 2)
      for c in ctrls.split(","):
        own[c] = path
  with open("/proc/self/mountinfo") as f:
    for line in f:
      left, right = line.split(" - ", 1)
      point, (fstype, _, opts) = left.split()[4], right.split()[:3]
      if fstype == "cgroup":
        on, d = opts.split(","), None
      elif fstype == "cgroup2" and "" in own:
        d = point + own[""]
        try:
          with open(os.path.join(d, "cgroup.subtree_control")) as g:
            on = g.read().split()
        except OSError:
          continue
      else:
        continue
      for c in ("pids", "memory"):
        if c in on and (d or c in own):
          bases.setdefault(c, d or point + own[c])
  return {c: os.path.normpath(d) for c, d in bases.items()
          if own.get(c, own.get("")) == "/" and os.access(d, os.W_OK)}


def _put(path: str, text: str):
  with open(path, "w") as f:
    f.write(text)


def take(limits, launcher: int) -> tuple[list[str], int]:
  """This run's cgroup directories ([]: none), with the limits set, and
  their OOM kills so far. `launcher`: the launcher's own processes. Empty
  ones are reused: creating and removing a memory cgroup costs ~10 ms."""
  with _LOCK:
    STATE["n"] += 1
    free = STATE["free_cgroups"]
    dirs = free.pop() if free else {
        c: os.path.join(base, f"r1jax-sbx-{os.getpid()}-{STATE['n']}")
        for c, base in STATE["cgroups"].items()}
  mem = (limits.memory_mb + 4 * limits.file_mb + 64) << 20
  try:
    for c, d in dirs.items():
      os.makedirs(d, exist_ok=True)
      for name, value in (
          ("pids.max", limits.processes + launcher) if c == "pids" else
          ("memory.max", mem), ("memory.swap.max", 0),
          ("memory.memsw.limit_in_bytes", -1),  # >= limit_in_bytes always
          ("memory.limit_in_bytes", mem), ("memory.memsw.limit_in_bytes", mem)):
        if name.startswith(c) and os.path.exists(os.path.join(d, name)):
          _put(os.path.join(d, name), str(value))
  except OSError:
    remove(dirs)
    raise
  return dirs, ooms(dirs)


def ooms(dirs: dict[str, str]) -> int:
  """OOM kills so far in this run's memory cgroup."""
  n = 0
  for d in set(dirs.values()):
    for name in ("memory.events", "memory.oom_control"):
      try:
        with open(os.path.join(d, name)) as f:
          m = re.search(r"^oom_kill (\d+)", f.read(), re.M)
        n += int(m.group(1)) if m else 0
      except OSError:
        pass
  return n


def give(dirs: dict[str, str]):
  """Keeps the run's cgroups for reuse once no process is left in them."""
  t = time.monotonic() + 2.0  # a killed process takes a moment to leave
  try:
    for d in set(dirs.values()):
      while time.monotonic() < t:
        with open(os.path.join(d, "cgroup.procs")) as f:
          if not f.read().strip():
            break
        time.sleep(0.002)
      else:
        raise OSError(f"{d}: processes left")
  except OSError:
    remove(dirs)
    return
  if dirs:
    with _LOCK:
      STATE["free_cgroups"].append(dirs)


def remove(dirs: dict[str, str]):
  for d in set(dirs.values()):
    for _ in range(400):
      try:
        os.rmdir(d)
        break
      except FileNotFoundError:
        break
      except OSError:
        time.sleep(0.005)


@atexit.register
def cleanup():
  for dirs in STATE["free_cgroups"]:
    remove(dirs)
