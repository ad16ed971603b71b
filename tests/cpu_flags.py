"""XLA flags for the tests' simulated CPU devices.

XLA's CPU collectives abort the process (a CHECK failure in
`AwaitAndLogIfStuck`) when the devices of one collective have not all
arrived within 40 s. Eight simulated devices share two cores with the other
test worker, so on a loaded CI machine a device thread can lag that long
inside a sampler's while loop without anything being wrong: wait up to 15
minutes (the tests' own subprocess timeouts end a real hang first).
"""

_PATIENT = ("--xla_cpu_collective_call_warn_stuck_timeout_seconds=300 "
            "--xla_cpu_collective_call_terminate_timeout_seconds=900")


def xla_flags(devices: int, existing: str = "") -> str:
  """`existing` with `devices` simulated CPU devices and patient collectives.

  A device count already in `existing` is kept.
  """
  flags = existing.split()
  if not any("xla_force_host_platform_device_count" in f for f in flags):
    flags.append(f"--xla_force_host_platform_device_count={devices}")
  flags += [f for f in _PATIENT.split()
            if f.split("=")[0] not in existing]
  return " ".join(flags)
