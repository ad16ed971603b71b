"""The programs the sandbox (r1jax/rewards/sandbox.py) runs, as source
text: the launcher, run as `python -I -S -B -X utf8 -c LAUNCHER <config>`,
and the audit hook of the fallback modes. Kept apart from the sandbox's own
code so that each module stays small."""

# Runs as `python -I -S -B -X utf8 -c _LAUNCHER <config>`. With namespaces
# its processes are: outer (the Popen child: unshares, waits for init; on
# SIGTERM kills init) -> init (pid 1: mounts, reaps) -> the program. Without,
# outer is the reaper (a child subreaper). The reaper writes records (Python
# literals, one a line) to the status pipe: ready, then exit or signal; or
# error. (No json: importing it costs 6 ms a program.)
LAUNCHER = r'''
import ctypes, os, resource, signal, sys
C = eval(sys.argv[1], {"__builtins__": {}})
LIBC = ctypes.CDLL(None, use_errno=True)
ST = {"prog": None, "done": False, "init": None, "tasks": None}

def report(**kw):
  os.write(C["fd"], (repr(kw) + "\n").encode())

def check(r, what):
  if r != 0:
    e = ctypes.get_errno()
    raise OSError(e, what + ": " + os.strerror(e))

def put(path, text):
  with open(path, "w") as f:
    f.write(text)

def prctl(op, arg):
  check(LIBC.prctl(op, ctypes.c_ulong(arg), 0, 0, 0), "prctl %d" % op)

def mount(src, dst, fstype, flags, data=None):
  enc = lambda s: None if s is None else s.encode()
  check(LIBC.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags),
                   enc(data)), "mount " + dst)

def setattr_(path, on=0, off=0, rec=False):  # mount_setattr(2): syscall 442
  a, L = (ctypes.c_uint64 * 4)(on, off, 0, 0), ctypes.c_long
  LIBC.syscall.restype = L
  check(LIBC.syscall(L(442), L(-100), ctypes.c_char_p(path.encode()),
                     L(0x8000 if rec else 0), ctypes.byref(a), L(32)),
        "mount_setattr " + path)  # -100: AT_FDCWD, 0x8000: AT_RECURSIVE

def unshare(flags):
  uid, gid = os.geteuid(), os.getegid()
  check(LIBC.unshare(ctypes.c_int(flags)), "unshare")
  put("/proc/self/setgroups", "deny")
  put("/proc/self/uid_map", "0 %d 1" % uid)
  put("/proc/self/gid_map", "0 %d 1" % gid)

def kill_tree():
  """Kills and reaps every descendant (orphans are reparented to us)."""
  if ST["prog"] and not ST["done"]:
    try: os.killpg(ST["prog"], signal.SIGKILL)
    except OSError: pass
  for _ in range(100000):
    try:
      for t in os.listdir(ST["tasks"]):
        with open(os.open(t + "/children", 0, dir_fd=ST["tasks"])) as f:
          for p in f.read().split():
            os.kill(int(p), signal.SIGKILL)
      while os.waitpid(-1, os.WNOHANG)[0]:
        pass
    except ChildProcessError:
      return
    except OSError:
      pass

def on_term(*_):
  if ST["init"]:
    os.kill(ST["init"], signal.SIGKILL)
    return
  if ST["tasks"] is not None:
    kill_tree()
  os._exit(137)

def program_child(ready_w, go_r):
  try:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.setsid()
    if not C["userns"]:
      prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the reaper
    try: put("/proc/self/oom_score_adj", "1000")  # the OOM killer's 1st pick
    except OSError: pass
    if C["userns"]:
      unshare(0x10000000)  # CLONE_NEWUSER: locks the mounts against us
    os.write(ready_w, b"ok")
    if os.read(go_r, 2) != b"go":
      os._exit(125)
    for fd in (C["fd"], ready_w, go_r):
      os.close(fd)
    os.chdir(C["work"])
    L = C["limits"]
    for r, v in ((resource.RLIMIT_AS, L["memory_mb"] << 20),
                 (resource.RLIMIT_FSIZE, L["file_mb"] << 20),
                 (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256),
                 (resource.RLIMIT_NPROC, C["nproc"])):
      resource.setrlimit(r, (v, v))
    cpu = max(1, int(L["cpu_s"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
  except BaseException as e:
    os.write(ready_w, ("error: %r" % (e,)).encode())
    os._exit(125)

def reaper(facts):
  """Starts the program; reaps until it ends; reports how it ended."""
  ready_r, ready_w = os.pipe()
  go_r, go_w = os.pipe()
  if not C["userns"]:
    prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
  pid = os.fork()
  if pid == 0:
    program_child(ready_w, go_r)
    return True
  ST["prog"] = pid
  ST["tasks"] = os.open("/proc/self/task", os.O_RDONLY | os.O_DIRECTORY)
  msg = os.read(ready_r, 4096).decode()
  if msg != "ok":
    raise RuntimeError("program setup failed: " + msg)
  if C["userns"]:
    try:
      for ns in ("user", "mnt", "net", "pid", "ipc", "uts", "cgroup"):
        put("/proc/sys/user/max_%s_namespaces" % ns, "0")
      facts["new_namespaces"] = "refused"
    except OSError as e:
      facts["new_namespaces"] = "allowed (%s)" % e
    if facts["proc"] != "private":
      mount("tmpfs", "/proc", "tmpfs", 14, "size=4k")  # nosuid,nodev,noexec
      facts["proc"] = "hidden (a private proc could not be mounted)"
  if C["ro"]:
    setattr_("/", on=7, rec=True)  # read-only, nosuid, nodev
    setattr_(C["work"], off=1)
    for d in facts["devs"]:
      setattr_(d, off=4)
  prctl(4, 0)  # PR_SET_DUMPABLE 0: the program cannot open /proc/1/fd
  report(ready=facts)
  os.write(go_w, b"go")
  while True:
    p, status = os.waitpid(-1, 0)
    if p == pid:
      ST["done"] = True
      break
  if not C["userns"]:
    kill_tree()
  if os.WIFSIGNALED(status):
    report(signal=os.WTERMSIG(status))
    os._exit(128 + os.WTERMSIG(status))
  report(exit=os.WEXITSTATUS(status))
  os._exit(os.WEXITSTATUS(status))

def init():
  """pid 1 of the new pid namespace: mounts, then reaps."""
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  prctl(1, signal.SIGKILL)  # dies with outer (and the namespace with it)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
  facts = {"proc": "private", "devs": []}
  mount(None, "/", None, (1 << 14) | (1 << 18))  # MS_REC | MS_PRIVATE
  try:
    mount("proc", "/proc", "proc", 14)  # nosuid, nodev, noexec
  except OSError:  # e.g. parts of /proc are masked (Docker)
    facts["proc"] = "host"
  if C["ro"]:
    mount("tmpfs", C["work"], "tmpfs", 6, "size=%dm,mode=700" % C["tmpfs_mb"])
    for d in ("null", "zero", "full", "random", "urandom"):
      if os.path.exists("/dev/" + d):
        mount("/dev/" + d, "/dev/" + d, None, 4096)  # MS_BIND
        facts["devs"].append("/dev/" + d)
  return reaper(facts)

def outer():
  signal.signal(signal.SIGTERM, on_term)
  for p in C["cgroups"]:
    put(p, "0")
  if not C["userns"]:
    return reaper({})
  # user, mount, net, IPC, UTS, pid namespaces
  unshare(0x10000000 | 0x20000 | 0x40000000 | 0x8000000 | 0x4000000 |
          0x20000000)
  signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
  pid = os.fork()
  if pid == 0:
    return init()
  ST["init"] = pid  # SIGTERM (blocked till now) kills init from here on
  signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
  _, status = os.waitpid(pid, 0)
  os._exit(os.waitstatus_to_exitcode(status) % 256)

try:
  outer()
except BaseException as e:
  report(error="%s: %s" % (type(e).__name__, e))
  os._exit(125)
if C["hook"]:
  exec(C["hook_src"], {"WORK": C["work"]})
import builtins, _sitebuiltins
builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
_main = type(sys)("__main__")
_main.__file__, _main.__builtins__ = C["prog"], builtins
sys.modules["__main__"], sys.argv = _main, [C["prog"]]
with open(C["prog"], "rb") as _f:
  _src = _f.read()
del C, LIBC, ST, _f
try:
  exec(compile(_src, _main.__file__, "exec"), _main.__dict__)
except SystemExit:
  raise
except BaseException as _e:  # as Python prints it, without this frame
  sys.excepthook(type(_e), _e, _e.with_traceback(_e.__traceback__.tb_next)
                 .__traceback__)
  raise SystemExit(1)
'''

# The audit hook of the fallbacks (module docstring).
HOOK = r'''
import os, sys
_work = os.path.realpath(WORK)
_me = os.getpid()
_deny = frozenset((
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
    "socket.__new__", "ctypes.dlopen", "os.killpg", "os.setuid", "os.chroot"))
# event -> (the indices of its paths, of its dir_fd arguments)
_paths = {"os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)),
          "os.rename": ((0, 1), (2, 3)), "os.link": ((0, 1), (2, 3)),
          "os.symlink": ((1,), (2,)), "os.mkdir": ((0,), (2,)),
          "os.chmod": ((0,), (2,)), "os.mkfifo": ((0,), (2,)),
          "os.chown": ((0,), (3,)), "os.utime": ((0,), (3,)),
          "os.mknod": ((0,), (3,)), "shutil.rmtree": ((0,), (1,)),
          "os.truncate": ((0,), ())}
_W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_busy = []

def _inside(p):
  if isinstance(p, int):
    return True
  p = os.path.realpath(os.fsdecode(os.fspath(p)))
  return p == _work or p.startswith(_work + os.sep)

def _descendant(pid):
  while pid > 1:
    if pid == _me:
      return True
    with open("/proc/%d/stat" % pid) as f:
      pid = int(f.read().rsplit(")", 1)[1].split()[1])
  return False

def _refused(event, args):
  if event == "open":
    path, mode, flags = args
    write = (isinstance(flags, int) and flags > 0 and flags & _W) or (
        isinstance(mode, str) and any(c in mode for c in "wax+"))
    parts = ([] if isinstance(path, int) else
             os.path.realpath(os.fsdecode(os.fspath(path))).split(os.sep))
    return (write and not _inside(path)) or (
        parts[1:2] == ["proc"] and len(parts) > 2 and parts[2].isdigit()
        and int(parts[2]) != os.getpid())
  if event in _paths:
    paths, dir_fds = _paths[event]
    return not all(_inside(args[i]) for i in paths) or any(
        args[i] not in (None, -1) for i in dir_fds if i < len(args))
  if event == "os.kill":
    try:
      return not (args[0] == 0 or args[0] > 0 and _descendant(args[0]))
    except (OSError, ValueError):
      return True
  return event in _deny

def _hook(event, args):
  if not _busy:  # the hook's own reads of /proc raise events too
    _busy.append(1)
    try:
      bad = _refused(event, args)
    finally:
      _busy.pop()
    if bad:
      raise PermissionError("sandbox: %s refused" % event)

sys.addaudithook(_hook)
'''
