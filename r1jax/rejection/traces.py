"""Sampled completions as SFT pairs for another model's template.

Text is the interface between a teacher and a student: a completion is
first made whole (the text its prompt left open, e.g. a prefilled
"<think>\\n", put back in front: the *trace*), then cut for the target
template (whatever the student's prompt opens is removed from the front),
so the student's prompt + completion reads as one well-formed response.
"""

from __future__ import annotations

from r1jax.data import templates


def opened_prefix(prompter: templates.Prompter) -> str:
  """The text a prompt leaves open for the completion to continue:
  "<think>\\n" when the template itself opens <think>, then the prefill."""
  bare = templates.Prompter(prompter.name, prompter.chat, prompter.system)
  return (templates.THINK_PREFIX if bare.think_opened else "") \
      + prompter.prefill


def trace(completion: str, source: templates.Prompter) -> str:
  """The whole response of a completion sampled after `source`'s prompt."""
  return opened_prefix(source) + completion


def for_target(full: str, target: templates.Prompter) -> str | None:
  """The completion that continues `target`'s prompt into `full`; None
  when `full` does not begin with what that prompt opens (compared with
  surrounding whitespace ignored, as tokenizers differ in it)."""
  prefix = opened_prefix(target)
  if not prefix.strip():
    return full[len(prefix):] if full.startswith(prefix) else full
  body = full.lstrip()
  if not body.startswith(prefix.strip()):
    return None
  return body[len(prefix.strip()):].lstrip()
