"""A model's own chat template, rendered the way transformers renders it.

Hugging Face models publish their prompt format as a Jinja `chat_template`
in `tokenizer_config.json` (newer repos: a `chat_template.jinja` file beside
it). `ChatTemplate.render` reproduces `apply_chat_template(messages,
tokenize=False, add_generation_prompt=True)` of transformers
(`transformers/utils/chat_template_utils.py`): a sandboxed, immutable Jinja
environment with `trim_blocks` and `lstrip_blocks`, the `raise_exception`,
`strftime_now` and `tojson` helpers, and as variables the messages,
`add_generation_prompt`, `tools=None`, `documents=None` and every special
token the config sets (`bos_token`, `eos_token`, ...; unset ones stay
undefined, as there).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
from typing import Any, Mapping, Sequence

import jinja2
from jinja2 import ext as jinja_ext
from jinja2 import sandbox

CONFIG_FILE = 'tokenizer_config.json'
TEMPLATE_FILE = 'chat_template.jinja'
# transformers' SPECIAL_TOKENS_ATTRIBUTES, in its order.
SPECIAL_TOKENS = ('bos_token', 'eos_token', 'unk_token', 'sep_token',
                  'pad_token', 'cls_token', 'mask_token')
# Names a message's reasoning may come under; templates read the first.
_REASONING_FIELDS = ('reasoning_content', 'thinking', 'reasoning')


def token_content(value: Any) -> str | None:
  """A special token's text from its published form: a string, an AddedToken
  dict (`{"__type": "AddedToken", "content": ...}`) or null."""
  if value is None or isinstance(value, str):
    return value
  if isinstance(value, Mapping) and isinstance(value.get('content'), str):
    return value['content']
  raise ValueError(f'not a token: {value!r}')


def special_tokens(config: Mapping[str, Any], where: str = CONFIG_FILE
                   ) -> dict[str, str]:
  """The special tokens a template sees, as transformers passes them: the
  standard ones `config` sets (null ones left out), then other `*_token`
  strings or AddedTokens (e.g. `image_token`) and `extra_special_tokens`."""
  out = {}
  for key in SPECIAL_TOKENS:
    try:
      text = token_content(config.get(key))
    except ValueError as e:
      raise ValueError(f'{where}: field {key}: {e}') from None
    if text is not None:
      out[key] = text
  extra = config.get('extra_special_tokens')
  others = {k: v for k, v in config.items()
            if k.endswith('_token') and k not in SPECIAL_TOKENS}
  if isinstance(extra, Mapping):
    others.update(extra)
  for key, value in others.items():
    try:
      text = token_content(value)
    except ValueError:
      continue  # not a token (e.g. a flag such as add_bos_token)
    if text is not None:
      out[key] = text
  return out


def select_template(value: Any, where: str) -> str:
  """The default template of a `chat_template` field: a string, or a list of
  `{"name", "template"}` (or a name -> template dict) with a "default"."""
  if isinstance(value, str):
    return value
  if isinstance(value, Mapping):
    named = dict(value)
  elif isinstance(value, Sequence) and all(
      isinstance(t, Mapping) and 'name' in t and 'template' in t
      for t in value):
    named = {t['name']: t['template'] for t in value}
  else:
    raise ValueError(f'{where}: field chat_template is neither a string nor '
                     'a list of {"name", "template"}')
  if 'default' not in named:
    raise ValueError(f'{where}: field chat_template has no "default" '
                     f'template (names: {sorted(named)})')
  return named['default']


def config_path(path_or_dir: str) -> str:
  """`tokenizer_config.json` of a model directory, or the file given."""
  if os.path.isdir(path_or_dir):
    return os.path.join(path_or_dir, CONFIG_FILE)
  return path_or_dir


def read_config(path: str) -> dict:
  """A `tokenizer_config.json` as a dict ({} when there is none)."""
  if not os.path.exists(path):
    return {}
  with open(path, encoding='utf-8') as f:
    try:
      config = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f'{path}: not valid JSON ({e})') from e
  if not isinstance(config, dict):
    raise ValueError(f'{path}: expected a JSON object')
  return config


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
  """A Jinja chat template with the special tokens it is rendered with."""
  template: str
  tokens: tuple[tuple[str, str], ...] = ()
  source: str = 'chat_template'  # where it came from, for error messages

  @classmethod
  def from_tokenizer_config(cls, path_or_dir: str) -> ChatTemplate:
    """Reads a model's template: `chat_template.jinja` when present (it takes
    priority, as in transformers), else the config's `chat_template`."""
    found = load(path_or_dir)
    if found is None:
      path = config_path(path_or_dir)
      if not os.path.exists(path):
        raise FileNotFoundError(f'{path} not found (nor {TEMPLATE_FILE} '
                                'beside it)')
      raise ValueError(f'{path}: no chat_template field (and no '
                       f'{TEMPLATE_FILE} beside it)')
    return found

  @property
  def special_tokens(self) -> dict[str, str]:
    return dict(self.tokens)

  def with_tokens(self, **tokens: str | None) -> ChatTemplate:
    """A copy with some special tokens replaced (None removes one)."""
    merged = {**self.special_tokens, **tokens}
    return dataclasses.replace(self, tokens=tuple(
        (k, v) for k, v in merged.items() if v is not None))

  def render(self, messages: Sequence[Mapping[str, Any]],
             add_generation_prompt: bool = True, **variables: Any) -> str:
    """The template applied to `messages`, as transformers'
    `apply_chat_template(..., tokenize=False)`; `variables` (e.g.
    `date_string`) override the special tokens."""
    if not messages:
      raise ValueError(f'{self.source}: no messages to render')
    context = {**self.special_tokens, **variables}
    try:
      return _compile(self.template).render(
          messages=_normalize(messages), tools=None, documents=None,
          add_generation_prompt=add_generation_prompt, **context)
    except jinja2.TemplateError as e:
      raise ValueError(f'{self.source}: {type(e).__name__}: {e}') from e


def load(path_or_dir: str) -> ChatTemplate | None:
  """The chat template of a model directory or tokenizer config file, or
  None when it has none (`ChatTemplate.from_tokenizer_config` raises)."""
  path = config_path(path_or_dir)
  config = read_config(path)
  jinja_path = os.path.join(os.path.dirname(path), TEMPLATE_FILE)
  if os.path.exists(jinja_path):
    with open(jinja_path, encoding='utf-8') as f:
      template, source = f.read(), jinja_path
  elif config.get('chat_template') is not None:
    template = select_template(config['chat_template'], path)
    source = f'{path}: field chat_template'
  else:
    return None
  return ChatTemplate(template, tuple(special_tokens(config, path).items()),
                      source)


def _normalize(messages: Sequence[Mapping[str, Any]]) -> list[dict]:
  """Plain dicts without None values; reasoning under all its names."""
  out = []
  for m in messages:
    if not isinstance(m, Mapping):
      raise TypeError(f'chat messages must be dicts, got {m!r}')
    m = {k: v for k, v in m.items() if v is not None}
    reasoning = next((m[k] for k in _REASONING_FIELDS if k in m), None)
    if reasoning is not None:
      m = {'thinking': reasoning, **m, 'reasoning_content': reasoning}
    out.append(m)
  return out


class _Generation(jinja_ext.Extension):
  """`{% generation %}...{% endgeneration %}` (assistant-mask markers in
  training templates) renders its body unchanged."""
  tags = {'generation'}

  def parse(self, parser):
    lineno = next(parser.stream).lineno
    body = parser.parse_statements(('name:endgeneration',), drop_needle=True)
    return jinja2.nodes.CallBlock(self.call_method('_body'), [], [],
                                  body).set_lineno(lineno)

  def _body(self, caller):
    return caller()


class _Dict:
  """`dict(...)` and `dict.fromkeys(...)` without the type itself."""

  def __call__(self, *args, **kwargs):
    return dict(*args, **kwargs)

  def fromkeys(self, *args, **kwargs):
    return dict.fromkeys(*args, **kwargs)


class _Namespace(jinja2.utils.Namespace):
  """`namespace()` refusing underscore names (no route to internals)."""

  def __init__(*args, **kwargs):  # pylint: disable=no-method-argument
    self, args = args[0], args[1:]
    attrs = dict(*args, **kwargs)
    for name in attrs:
      _Namespace._check(name)
    jinja2.utils.Namespace.__init__(self, attrs)

  def __setitem__(self, name, value):
    _Namespace._check(name)
    jinja2.utils.Namespace.__setitem__(self, name, value)

  @staticmethod
  def _check(name):
    if isinstance(name, str) and name.startswith('_'):
      raise jinja2.exceptions.SecurityError(
          f'chat templates cannot set namespace attribute {name!r}')


def _raise_exception(message):
  raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None,
            sort_keys=False):
  # Unlike Jinja's own filter: no HTML escaping, json.dumps' options.
  return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                    separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt):
  return datetime.datetime.now().strftime(fmt)


@functools.lru_cache(maxsize=32)
def _compile(template: str) -> jinja2.Template:
  env = sandbox.ImmutableSandboxedEnvironment(
      trim_blocks=True, lstrip_blocks=True,
      extensions=[_Generation, jinja_ext.loopcontrols])
  env.filters['tojson'] = _tojson
  env.globals['raise_exception'] = _raise_exception
  env.globals['strftime_now'] = _strftime_now
  env.globals['dict'] = _Dict()
  env.globals['namespace'] = _Namespace
  return env.from_string(template)
