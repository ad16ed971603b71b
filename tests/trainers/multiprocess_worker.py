"""One of two `jax.distributed` CPU processes (gloo), 4 devices each.

  python -m tests.trainers.multiprocess_worker PROCESS_ID PORT ROOT TOK DATA

Runs on a (2, 2, 2) mesh spanning both processes: host rewards of a fixed
rollout (each process scores its rows; checked here against scoring all
rows), then stages into directories of ROOT (shared by the two processes):
sft and grpo for 2 steps (ROOT/sft,
ROOT/grpo), grpo with host rewards on DATA/rl.jsonl and an HF export
(ROOT/grpo_host), and the generate stage on DATA/prompts.jsonl
(ROOT/generate), the eval stage on DATA/eval_model (ROOT/eval; again with
continuous batching, ROOT/eval_continuous), and the
reward_model stage with an HF export (ROOT/reward_model), the eval stage
scored by that reward model too (ROOT/eval_rm), and a pipeline
of two SFT stages with an eval after the second (ROOT/pipeline). The test
writes
TOK and DATA first.
"""
import os
import sys
import time

from tests.cpu_flags import xla_flags  # pylint: disable=g-import-not-at-top

os.environ["XLA_FLAGS"] = xla_flags(4)
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position


def check_host_rewards(tok_path: str) -> None:
  """score_rollout over both processes = compute_rewards over all rows."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from r1jax import sharding as shd
  from r1jax import tokenizers as tok_lib
  from r1jax.trainers import host_rewards
  from tests.trainers import util
  # pylint: enable=g-import-not-at-top
  tok = tok_lib.load(tok_path)
  texts, examples, eos = util.reward_cases()
  comp, host = util.rollout(tok, texts, eos, shd.make_mesh((2, 2, 2)))
  assert set(host_rewards.row_owners(*comp).tolist()) == {0, 1}
  options = {"accuracy": {"num_workers": 1}}
  total_B, metrics = host_rewards.score_rollout(
      tok, comp, examples, util.REWARD_WEIGHTS, options, think_opened=False)
  want_B, want, _ = util.all_rows_reference(tok, host, examples, options)
  np.testing.assert_array_equal(total_B, want_B)
  assert metrics == want, (metrics, want)
  assert want["reward/accuracy"] == 0.625, want


def main(pid: int, port: int, root: str, tok: str, data: str) -> None:
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2,
                             process_id=pid)
  assert jax.device_count() == 8 and jax.local_device_count() == 4
  from tests.trainers import util  # pylint: disable=g-import-not-at-top
  from r1jax.trainers import evaluate, generate, grpo, sft  # pylint: disable=g-import-not-at-top
  from r1jax.trainers import pipeline, reward_model  # pylint: disable=g-import-not-at-top
  from tests.trainers import reward_model_test  # pylint: disable=g-import-not-at-top
  stages = (
      ("host_rewards", lambda _: check_host_rewards(tok)),
      ("sft", lambda d: sft.run(util.multiprocess_sft(tok), d)),
      ("grpo", lambda d: grpo.run(util.multiprocess_grpo(tok), d)),
      ("grpo_host", lambda d: grpo.run(
          util.multiprocess_grpo_host(tok, util.rl_jsonl(data)), d)),
      ("generate", lambda d: generate.run(util.multiprocess_generate(
          tok, util.rl_jsonl(data, 6, "prompts.jsonl")), d)),
      ("eval", lambda d: evaluate.run(util.multiprocess_eval(
          os.path.join(data, "eval_model")), d)),
      ("eval_continuous", lambda d: evaluate.run(util.multiprocess_eval(
          os.path.join(data, "eval_model"), continuous=16), d)),
      ("reward_model", lambda d: reward_model.run(
          reward_model_test.multiprocess_config(tok), d)),
      ("eval_rm", lambda d: evaluate.run(util.multiprocess_eval(
          os.path.join(data, "eval_model"),
          rm=os.path.join(root, "reward_model")), d)),
      ("pipeline", lambda d: pipeline.run(util.multiprocess_pipeline(tok),
                                          d)))
  for name, run in stages:
    start = time.time()
    run(os.path.join(root, name))
    print(f"worker {pid}: {name} took {time.time() - start:.1f}s", flush=True)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
       sys.argv[5])
