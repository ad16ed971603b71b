"""`general_chat`: the R1 miniature's general (non-verifiable) prompts.

R1's last RL stage scores general prompts with reward models trained on
preferences, not with rules [R1v2 3.1, 3.2.2]. The miniature needs such
prompts at a scale a ~1M-parameter model can learn: short requests in
English, German or Chinese to greet, thank or say goodbye to a named
person ("Write a short greeting to Anna. Reply in English.").

What makes a response good is a hidden GOLD RULE (`helpful`): it names
the person and says the requested thing (its key phrase, e.g. "hello" /
"hallo" / "你好") in the prompt's language. Training never sees the rule:
the reward model learns it from preference pairs (`preference_pairs`: a
helpful response preferred to an unhelpful one) and RL optimises the
reward model; the rule only measures the result, as a gold reward model
does in reward-model over-optimisation studies (Gao et al. 2022).
`verify` is that rule, so `eval` reports it as pass@1.

Unhelpful responses (`STYLES`): a non-answer ("i am not sure what to
write."), the wrong act (thanks when a greeting was asked) or the wrong
person. Every text here is ours. Examples carry "source": "general", the
field reward scopes route by (`config.reward_scope`).
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Mapping

import numpy as np

from r1jax.data.tasks import base
from r1jax.data.tasks import multilingual

LANGS = ('en', 'de', 'zh')
KINDS = ('greet', 'thank', 'farewell')
NAMES = ('anna', 'ben', 'clara', 'david', 'emma', 'felix', 'greta', 'hugo',
         'ida', 'jonas', 'lena', 'max', 'nora', 'omar', 'paul', 'rosa')
SOURCE = 'general'

_ASK = {
    'en': dict(greet='Write a short greeting to {name}.',
               thank='Write a short thank-you note to {name}.',
               farewell='Write a short goodbye to {name}.',
               end=' Reply in English.'),
    'de': dict(greet='Schreibe einen kurzen Gruß an {name}.',
               thank='Schreibe ein kurzes Dankeschön an {name}.',
               farewell='Schreibe einen kurzen Abschied an {name}.',
               end=' Antworte auf Deutsch.'),
    'zh': dict(greet='给{name}写一句简短的问候。',
               thank='给{name}写一句简短的感谢。',
               farewell='给{name}写一句简短的告别。',
               end='请用中文回答。'),
}
# The key phrase of each act (the gold rule looks for it), and a reply.
KEY = {
    'en': dict(greet='hello', thank='thank you', farewell='goodbye'),
    'de': dict(greet='hallo', thank='danke', farewell='auf wiedersehen'),
    'zh': dict(greet='你好', thank='谢谢', farewell='再见'),
}
_REPLY = {
    'en': dict(greet='hello {name}, it is nice to see you today.',
               thank='thank you so much, {name}, for all your help.',
               farewell='goodbye {name}, i hope to see you again soon.'),
    'de': dict(greet='hallo {name}, schön dich heute zu sehen.',
               thank='danke {name}, für all deine hilfe.',
               farewell='auf wiedersehen {name}, bis bald.'),
    'zh': dict(greet='{name}，你好，今天见到你很高兴。',
               thank='{name}，谢谢你的帮助。',
               farewell='{name}，再见，希望很快再见到你。'),
}
_UNSURE = {'en': 'i am not sure what to write.',
           'de': 'ich weiß nicht, was ich schreiben soll.',
           'zh': '我不知道该写什么。'}
# What the writer thinks first (the <think> part of a response).
_PLAN = {'en': 'the user wants me to write to {name}.',
         'de': 'ich soll etwas an {name} schreiben.',
         'zh': '用户想让我给{name}写一句话。'}
STYLES = ('helpful', 'unsure', 'wrong_kind', 'wrong_name')


def prompt(lang: str, kind: str, name: str) -> str:
  a = _ASK[lang]
  return a[kind].format(name=name.capitalize()) + a['end']


def reply(rng: random.Random, example: Mapping[str, Any],
          style: str) -> str:
  """The answer text of a response in `style` (one of STYLES). Names are
  written as in the prompt (capitalised), so replying to the right person
  is copying a piece of the prompt."""
  lang, kind, name = example['lang'], example['kind'], example['name']
  if style == 'helpful':
    return _REPLY[lang][kind].format(name=name.capitalize())
  if style == 'unsure':
    return _UNSURE[lang]
  if style == 'wrong_kind':
    other = rng.choice([k for k in KINDS if k != kind])
    return _REPLY[lang][other].format(name=name.capitalize())
  if style == 'wrong_name':
    other = rng.choice([n for n in NAMES if n != name])
    return _REPLY[lang][kind].format(name=other.capitalize())
  raise ValueError(f'general_chat: style {style!r}; known: {STYLES}')


def response(rng: random.Random, example: Mapping[str, Any],
             style: str, summary_only: bool = False) -> str:
  """A whole response in the R1-Zero tags: a one-sentence plan, then the
  reply in `<answer>`; `summary_only`: the `<answer>` part alone (what a
  reward model with span 'summary' reads after `</think>`)."""
  summary = f'<answer> {reply(rng, example, style)} </answer>'
  if summary_only:
    # As it follows `</think>` in a whole response.
    return ' ' + summary
  plan = _PLAN[example['lang']].format(name=example['name'].capitalize())
  return f'<think> {plan} </think> {summary}'


def helpful(text: str | None, example: Mapping[str, Any]) -> bool:
  """The gold rule: `text` names the person and says the requested act's
  key phrase, and no other act's (case ignored)."""
  if not text:
    return False
  t = text.lower()
  keys = KEY[example['lang']]
  return (example['name'] in t and keys[example['kind']] in t
          and not any(keys[k] in t for k in KINDS if k != example['kind']))


@base.register('general_chat')
@dataclasses.dataclass(frozen=True)
class GeneralChat(base.Task):
  """`lang`: one of LANGS or 'mixed'."""
  lang: str = 'mixed'

  def __post_init__(self):
    if self.lang not in LANGS + ('mixed',):
      raise ValueError(f'general_chat: lang={self.lang!r}; one of '
                       f'{LANGS + ("mixed",)}')

  def generate(self, seed: int, index: int) -> dict[str, Any]:
    rng = self.rng(seed, index)
    lang = rng.choice(LANGS) if self.lang == 'mixed' else self.lang
    kind, name = rng.choice(KINDS), rng.choice(NAMES)
    return dict(id=f'{self.name}/{seed}/{index}',
                prompt=prompt(lang, kind, name), answer='', task=self.name,
                lang=lang, kind=kind, name=name, source=SOURCE)

  def verify(self, answer: str | None, example: Mapping[str, Any]) -> bool:
    return helpful(answer, example)

  def device_answer(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    raise NotImplementedError(
        'general_chat has no device reward: its gold rule runs on the host '
        '(config.rl.host_rewards=True), and RL scores it with a reward model')


def preference_pairs(num_prompts: int, seed: int = 0, lang: str = 'mixed',
                     summary_only: bool = False
                     ) -> list[tuple[dict, str, str]]:
  """(example, chosen, rejected): a helpful response preferred to one of
  the unhelpful styles, drawn uniformly; the pairs a reward model learns
  the gold rule from (`summary_only`: as `response`)."""
  task = GeneralChat(lang=lang)
  out = []
  for i in range(num_prompts):
    e = task.generate(seed, i)
    rng = random.Random(f'general_chat/pairs/{seed}/{i}')
    bad = rng.choice(STYLES[1:])
    out.append((e, response(rng, e, 'helpful', summary_only),
                response(rng, e, bad, summary_only)))
  return out


@base.register('all_scenarios')
@dataclasses.dataclass(frozen=True)
class AllScenarios(multilingual.MultilingualArithmetic):
  """R1's last RL stage's prompt mix in the miniature [R1v2 3.2.2]:
  `multilingual_arithmetic` problems ("source": "reasoning") and, with
  probability `general_frac`, `general_chat` requests ("source":
  "general"), both in the prompt language `lang`. Each example keeps its
  own task's name in "task", so answers are checked by that task."""
  general_frac: float = 0.25

  def __post_init__(self):
    super().__post_init__()
    if not 0.0 <= self.general_frac <= 1.0:
      raise ValueError(f'all_scenarios: general_frac={self.general_frac!r} '
                       'is not a probability')

  def generate(self, seed: int, index: int) -> dict[str, Any]:
    if self.rng(seed, index).random() < self.general_frac:
      return GeneralChat(lang=self.lang).generate(seed, index)
    e = super().generate(seed, index)
    e['task'] = multilingual.MultilingualArithmetic.name
    e['source'] = 'reasoning'
    return e

  def verify(self, answer: str | None, example: Mapping[str, Any]) -> bool:
    return base.get(example['task']).verify(answer, example)
