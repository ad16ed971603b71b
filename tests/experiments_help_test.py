"""Every experiment script's --help documents its arms, flags and defaults."""
import os
import re
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARMS = ("grpo", "format0", "dr_grpo", "dapo", "lang_off", "lang_on")


def _help(script):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  r = subprocess.run([sys.executable, script, "--help"], cwd=_ROOT, env=env,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  return " ".join(r.stdout.split())  # argparse wraps lines


def test_reward_ablation_lists_every_arm_and_default():
  text = _help("experiments/reward_ablation.py")
  for arm in ARMS:  # name, one-line description, then its overrides
    assert re.search(rf" {arm} [A-Za-z(]", text), arm
  assert "--config.stages.rl.rewards.format=0.0" in text
  assert "--config.stages.rl.loss.preset=dr_grpo" in text
  assert f"(default: {','.join(ARMS)})" in text
  assert "GRPO steps per arm, config.stages.rl.steps (default: 40)" in text
  assert "(default: 0)" in text  # --seed


@pytest.mark.parametrize("script, expected", [
    ("experiments/demo_styles.py",
     ["--workdir", "(default: 0)", "{cpu,short,aha}", "--temperature",
      "(default: cpu)",
      "untagged", "checked", "direct", "worked"]),
    ("experiments/benchmarks/grpo_step_bench.py",
     ["median is reported (default: 3)", "(compilation) (default: 1)",
      "--skip-trl", "--skip-r1jax", "speedup_vs_trl"]),
    ("experiments/benchmarks/sampler_bench.py",
     ["(default: 32)", "(default: 64)", "(default: 128)", "(default: 3)",
      "--skip_hf", "speedup_vs_transformers"]),
    ("experiments/prepare_sft.py",
     ["--records_per_shard", "(default: sft)", "--process_index",
      "open-r1/OpenR1-Math-220k", "metadata.json"]),
    ("experiments/distill_vs_rl.py",
     ["--teacher", "(default: cpu)", "(default: rl,sft,onpolicy)",
      "(default: 0)", "rejection-sampled", "reverse KL"]),
    ("experiments/rm_demo.py",
     ["--base", "(default: cpu)", "(default: rm_only,rm_format)",
      "(default: 0)", "R1's general reward", "reward hacking"]),
    ("experiments/pipeline_seeds.py",
     ["workdirs", "--out", "--bench", "seeds.md", "one line per seed"]),
    ("experiments/benchmarks/rm_memory.py",
     ["(default: qwen2.5-1.5b qwen2.5-7b llama-3.1-8b)", "(default 64)",
      "(default 4096)", "memory_analysis"]),
    ("experiments/benchmarks/sft_input_bench.py",
     ["(default: 20000000)", "(default: 4)", "peak RSS", "(default: 300)"]),
])
def test_help_documents_flags_and_defaults(script, expected):
  text = _help(script)
  for s in expected:
    assert s in text, s
