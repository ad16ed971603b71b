"""Format reward: strict `<think>...</think><answer>...</answer>` layout.

1.0 only if the completion is, up to whitespace,
`<think>` CoT `</think>` `<answer>` answer `</answer>` with each tag exactly
once, a non-blank CoT and answer, and nothing but whitespace before
`<think>`, between `</think>` and `<answer>`, and after `</answer>` (no
partial credit: partial credit rewards rambling after `</answer>`).
With `think_opened=True` (the template already emitted `<think>`, e.g.
`r1_chat`) the completion must not contain `<think>` itself.
The device-side twin is `rewards.device.format.format_reward`.
"""
import re

import numpy as np

from r1jax.rewards import registry

TAGS = ('<think>', '</think>', '<answer>', '</answer>')
_STRICT = re.compile(
    r'\s*<think>(?P<cot>.*?)</think>\s*<answer>(?P<ans>.*?)</answer>\s*',
    re.DOTALL)


def is_formatted(completion: str, think_opened: bool = False) -> bool:
  """True if `completion` follows the strict layout (see module doc)."""
  text = '<think>' + completion if think_opened else completion
  if any(text.count(tag) != 1 for tag in TAGS):
    return False
  m = _STRICT.fullmatch(text)
  return bool(m and m['cot'].strip() and m['ans'].strip())


@registry.register('format')
def format_reward(batch: registry.RewardBatch,
                  think_opened: bool = False) -> registry.RewardResult:
  values_B = np.array(
      [is_formatted(c, think_opened) for c in batch.completions], np.float32)
  return registry.RewardResult(values_B)
