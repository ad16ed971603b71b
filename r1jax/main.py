"""Entry point: `python -m r1jax.main --config=configs/X.py[:arg] --workdir=D`.

Dispatches on `config.stage`; each stage validates its config first.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Recipe config.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output / resume directory.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() first: one "
    "process per host (Cloud TPU pod slices, multi-node GPU); every host "
    "runs the same command.")
flags.mark_flags_as_required(["config", "workdir"])

STAGES = ("generate", "sft", "pretrain", "grpo", "r1_zero_demo")


def main(argv):
  del argv
  if _DISTRIBUTED.value:
    import jax  # pylint: disable=g-import-not-at-top
    jax.distributed.initialize()
  config = _CONFIG.value
  if config.stage not in STAGES:
    raise app.UsageError(f"config.stage={config.stage!r}; known: {STAGES}")
  # pylint: disable=g-import-not-at-top
  if config.stage == "generate":
    from r1jax.trainers import generate
    generate.run(config, _WORKDIR.value)
  elif config.stage in ("sft", "pretrain"):
    from r1jax.trainers import sft
    sft.run(config, _WORKDIR.value)
  elif config.stage == "grpo":
    from r1jax.trainers import grpo
    grpo.run(config, _WORKDIR.value)
  elif config.stage == "r1_zero_demo":
    from r1jax.trainers import demo
    demo.run(config, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
