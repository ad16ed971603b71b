"""Traces move between templates: what a generation prompt opened is put
back, what the target prompt opens is removed, with real chat templates
(DeepSeek-R1-Distill's opens <think> itself; Qwen2.5-Instruct's does not)."""
import json
import pathlib

import pytest

from r1jax.data import chat, templates
from r1jax.rejection import traces

CONFIGS = pathlib.Path(__file__).parents[1] / "data" / "tokenizer_configs"


class _Tok:
  def __init__(self, name):
    cfg = json.loads((CONFIGS / name).read_text())
    self.chat_template = chat.ChatTemplate(
        chat.select_template(cfg["chat_template"], name),
        chat.special_tokens(cfg))


R1 = _Tok("deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B.json")
QWEN = _Tok("Qwen--Qwen2.5-7B-Instruct.json")
BODY = "I add 2 and 3.\n</think>\n\nThe sum is \\boxed{5}."


def test_r1_distill_template_opens_think_itself():
  p = templates.make_prompter("chat", R1)
  assert p.think_opened and traces.opened_prefix(p) == "<think>\n"
  assert traces.trace(BODY, p) == "<think>\n" + BODY


@pytest.mark.parametrize("source,target,want", [
    # R1 template (opens <think>) -> Qwen chat with "<think>\n" prefilled.
    (("chat", R1, ""), ("chat", QWEN, "<think>\n"), BODY),
    # -> Qwen chat, nothing prefilled: the completion opens <think> itself.
    (("chat", R1, ""), ("chat", QWEN, ""), "<think>\n" + BODY),
    # R1-Zero template (nothing opened) -> R1's template (opens <think>).
    (("r1_zero", None, ""), ("chat", R1, ""), BODY),
])
def test_for_target(source, target, want):
  src = templates.make_prompter(source[0], source[1], prefill=source[2])
  tgt = templates.make_prompter(target[0], target[1], prefill=target[2])
  completion = BODY if src.think_opened else " <think>\n" + BODY
  full = traces.trace(completion, src)
  out = traces.for_target(full, tgt)
  assert out == want
  # The student's prompt + completion reads as the teacher's response.
  assert (tgt.render("q") + out).count("<think>") == 1


def test_a_trace_without_the_opened_prefix_is_none():
  tgt = templates.make_prompter("chat", QWEN, prefill="<think>\n")
  assert traces.for_target("The answer is 5.", tgt) is None
