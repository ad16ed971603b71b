"""Prompt templates: R1-Zero (verbatim), the R1 chat form, eval prompts, and
the model's own chat template.

`make_prompter(name, tok)` gives a `Prompter` whose `render(question)` is the
text the model continues. `Prompter.think_opened` tells whether that text
leaves `<think>` open (R1's chat prefix, a `<think>\\n` prefill, the newer
R1-Distill chat templates); the format reward must then be told
(`think_opened=True`), or it would always score 0. It is read off the
rendered prompt, so it follows whatever template the model ships.
"""
import dataclasses
from typing import Sequence

from r1jax.data import chat as chat_lib

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

# Named templates written here; CHAT ones render through the tokenizer's own.
NAMED = ('r1_zero', 'r1_chat', 'r1_chat_math', 'plain')
CHAT = ('chat', 'chat_math')
TEMPLATES = NAMED + CHAT
# Stands in for the question when reading what a template adds after it.
_PROBE = '\ue000question\ue000'


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


def _named(name: str, question: str) -> str:
  if name == 'r1_zero':
    return r1_zero(question)
  if name == 'r1_chat':
    return r1_chat(question)
  if name == 'r1_chat_math':
    return r1_chat(math_question(question))
  if name == 'plain':
    return question
  raise ValueError(f'unknown template {name!r}; expected one of {TEMPLATES}')


def opens_think(text: str) -> bool:
  """True if `text` leaves a `<think>` open: its last `<think>` comes after
  its last `</think>`."""
  return text.rfind('<think>') > text.rfind('</think>')


@dataclasses.dataclass(frozen=True)
class Prompter:
  """Builds the prompt for a question: template `name`, for `chat` /
  `chat_math` the model's own chat template, then `prefill` appended."""
  name: str
  chat: chat_lib.ChatTemplate | None = None
  system: str = ''
  prefill: str = ''

  def render(self, question: str) -> str:
    """The text the model continues for `question`."""
    if self.name not in CHAT:
      return _named(self.name, question) + self.prefill
    if self.chat is None:
      raise ValueError(f'template {self.name!r} needs a chat template: use '
                       'make_prompter(name, tok)')
    if self.name == 'chat_math':
      question = math_question(question)
    messages = [{'role': 'system', 'content': self.system}] if self.system \
        else []
    messages.append({'role': 'user', 'content': question})
    return self.chat.render(messages, add_generation_prompt=True) \
        + self.prefill

  @property
  def think_opened(self) -> bool:
    """True when the rendered prompt leaves `<think>` open, read off what
    the template adds after the question (so a question quoting `<think>`
    does not count)."""
    text = self.render(_PROBE)
    i = text.rfind(_PROBE)
    return opens_think(text[i + len(_PROBE):] if i >= 0 else text)


def make_prompter(name: str, tok=None, *, system: str = '',
                  prefill: str = '') -> Prompter:
  """A `Prompter` for template `name` (one of TEMPLATES). `chat` and
  `chat_math` need `tok` with a chat template (`tok.chat_template`, read
  from the model's tokenizer_config.json); `system` is their optional system
  message; `prefill` is appended to every prompt (e.g. "<think>\\n", R1's
  recommendation)."""
  if name not in TEMPLATES:
    raise ValueError(f'unknown template {name!r}; expected one of '
                     f'{TEMPLATES}')
  if name not in CHAT:
    if system:
      raise ValueError(f'config.template={name!r} has no system message; '
                       f'use one of {CHAT} for config.system_prompt')
    return Prompter(name, prefill=prefill)
  template = getattr(tok, 'chat_template', None)
  if template is None:
    where = getattr(tok, 'path', None)
    raise ValueError(
        f'config.template={name!r} renders with the tokenizer\'s own chat '
        + (f'template, but {where} has none (no chat_template in '
           f'{chat_lib.CONFIG_FILE} nor {chat_lib.TEMPLATE_FILE} beside it)'
           if tok is not None else 'template, but no tokenizer was given'))
  return Prompter(name, template, system, prefill)


def render(name: str, question: str) -> str:
  """Applies named template `name` (one of NAMED) to a question."""
  if name in CHAT:
    raise ValueError(f'template {name!r} needs a tokenizer: use '
                     'make_prompter(name, tok).render(question)')
  return _named(name, question)


def think_opened(name: str) -> bool:
  """True if named template `name` ends by opening `<think>`."""
  if name in CHAT:
    raise ValueError(f'template {name!r} needs a tokenizer: use '
                     'make_prompter(name, tok).think_opened')
  return make_prompter(name).think_opened


THINK_OPENED = tuple(n for n in NAMED if think_opened(n))
