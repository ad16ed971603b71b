"""Prompt templates: R1-Zero (verbatim), the R1 chat form, eval prompts.

`render(name, question)` returns the text the model continues. Templates
whose output already opens `<think>` are listed in THINK_OPENED; the format
reward must then be told (`think_opened=True`), or it would always score 0.
"""
from typing import Sequence

# R1-Zero template [R1v1 Table 1], `prompt` replaced by the question.
R1_ZERO = (
    'A conversation between User and Assistant. The user asks a question, '
    'and the Assistant solves it. The assistant first thinks about the '
    'reasoning process in the mind and then provides the user with the '
    'answer. The reasoning process and answer are enclosed within <think> '
    '</think> and <answer> </answer> tags, respectively, i.e., <think> '
    'reasoning process here </think> <answer> answer here </answer>. '
    'User: {prompt}. Assistant:')

# DeepSeek-R1 chat markup (tokenizer_config.json of deepseek-ai/DeepSeek-R1;
# the R1-Distill models use the same strings). The README recommends forcing
# the output to begin with "<think>\n" and putting no system prompt.
BOS = '<｜begin▁of▁sentence｜>'
USER = '<｜User｜>'
ASSISTANT = '<｜Assistant｜>'
EOS = '<｜end▁of▁sentence｜>'
THINK_PREFIX = '<think>\n'

# Appended to maths questions for evaluation [R1v2 Table 32; README].
MATH_SUFFIX = ('Please reason step by step, and put your final answer '
               'within \\boxed{}.')

# simple-evals GPQA prompt (common.py QUERY_TEMPLATE_MULTICHOICE).
MULTICHOICE = (
    "Answer the following multiple choice question. The last line of your "
    "response should be of the following format: 'Answer: $LETTER' (without "
    "quotes) where LETTER is one of ABCD. Think step by step before "
    "answering.\n\n{question}\n\nA) {a}\nB) {b}\nC) {c}\nD) {d}")

TEMPLATES = ('r1_zero', 'r1_chat', 'r1_chat_math', 'plain')
THINK_OPENED = ('r1_chat', 'r1_chat_math')


def r1_zero(question: str) -> str:
  """The R1-Zero template; the completion starts after 'Assistant:'."""
  return R1_ZERO.format(prompt=question)


def r1_chat(question: str, bos: bool = True,
            think_prefix: str = THINK_PREFIX) -> str:
  """One user turn in R1 chat markup, with `<think>\\n` already opened."""
  return (BOS if bos else '') + USER + question + ASSISTANT + think_prefix


def math_question(question: str) -> str:
  """A maths question with the recommended evaluation suffix."""
  return question.rstrip() + '\n' + MATH_SUFFIX


def multichoice_question(question: str, choices: Sequence[str]) -> str:
  """simple-evals' GPQA prompt; `choices` are the four options in order."""
  if len(choices) != 4:
    raise ValueError(f'expected 4 choices, got {len(choices)}')
  a, b, c, d = choices
  return MULTICHOICE.format(question=question, a=a, b=b, c=c, d=d)


def render(name: str, question: str) -> str:
  """Applies template `name` (one of TEMPLATES) to a question."""
  if name == 'r1_zero':
    return r1_zero(question)
  if name == 'r1_chat':
    return r1_chat(question)
  if name == 'r1_chat_math':
    return r1_chat(math_question(question))
  if name == 'plain':
    return question
  raise ValueError(f'unknown template {name!r}; expected one of {TEMPLATES}')


def think_opened(name: str) -> bool:
  """True if template `name` ends by opening `<think>`."""
  if name not in TEMPLATES:
    raise ValueError(f'unknown template {name!r}; expected one of {TEMPLATES}')
  return name in THINK_OPENED
