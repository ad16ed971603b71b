"""Synthetic code task: write a short Python function from a one-line spec.

A problem composes `num_ops` transforms of a list of integers (or of a
string) and a final step, in words:

  Write f(xs) for a list of integers xs: keep the values greater than 3,
  then reverse the list, then return the sum

Its reference solution is one line per step (`reference`), and its tests
are HumanEval-style 'check' tests, one per generated input, with the
expected output computed by running the reference here (our own code). So
`rewards.code` scores a completion by the fraction of inputs it gets right
(`code_partial`) or by all of them (`code`); the completion's code runs in
the sandbox, never here, and there is no device verifier.

Held-out problems are new specifications, not new inputs: a hash of the
prompt puts a fraction `held_out_fraction` of all specifications in a
held-out pool; seed `held_out_seed` (the configs' `data.eval_seed`) draws
only from that pool and every other seed only from the rest.
"""
import dataclasses
import hashlib
import random
from typing import Any, Mapping

import numpy as np

from r1jax.data.tasks import base

KINDS = ('list', 'str', 'mixed')
MAX_OPS = 4
# Letters of the string inputs: five vowels and five consonants, so vowel
# counts, replacements and letter counts are rarely trivial.
ALPHABET = 'aeioubcdst'

# name -> (phrase, code line, parameter kind). The code rebinds `xs` / `s`
# (never mutates), so steps compose line by line.
LIST_STEPS = {
    'gt': ('keep the values greater than {k}',
           'xs = [x for x in xs if x > {k}]', 'value'),
    'ge': ('remove the values below {k}',
           'xs = [x for x in xs if x >= {k}]', 'value'),
    'even': ('keep the even values', 'xs = [x for x in xs if x % 2 == 0]',
             None),
    'odd': ('keep the odd values', 'xs = [x for x in xs if x % 2 == 1]',
            None),
    'rev': ('reverse the list', 'xs = xs[::-1]', None),
    'step2': ('keep every second value, starting with the first',
              'xs = xs[::2]', None),
    'sort': ('sort the list in increasing order', 'xs = sorted(xs)', None),
    'add': ('add {k} to each value', 'xs = [x + {k} for x in xs]', 'small'),
    'sub': ('subtract {k} from each value', 'xs = [x - {k} for x in xs]',
            'small'),
    'mul': ('multiply each value by {k}', 'xs = [x * {k} for x in xs]',
            'factor'),
    'head': ('keep the first {k} values', 'xs = xs[:{k}]', 'count'),
    'drop': ('drop the first {k} values', 'xs = xs[{k}:]', 'count'),
}
LIST_FINALS = {
    'list': ('return the list', 'return xs', None),
    'sum': ('return the sum', 'return sum(xs)', None),
    'len': ('return the number of values', 'return len(xs)', None),
    'max': ('return the largest value, or 0 if there is none',
            'return max(xs, default=0)', None),
    'min': ('return the smallest value, or 0 if there is none',
            'return min(xs, default=0)', None),
    'first': ('return the first value, or 0 if there is none',
              'return xs[0] if xs else 0', None),
}
STR_STEPS = {
    'rev': ('reverse it', 's = s[::-1]', None),
    'upper': ('make it upper case', 's = s.upper()', None),
    'nospace': ('remove the spaces', "s = s.replace(' ', '')", None),
    'step2': ('keep every second character, starting with the first',
              's = s[::2]', None),
    'novowel': ('remove the vowels',
                "s = ''.join(c for c in s if c.lower() not in 'aeiou')",
                None),
    'replace': ("replace each '{a}' with '{b}'",
                "s = s.replace('{a}', '{b}')", 'letters'),
    'head': ('keep the first {k} characters', 's = s[:{k}]', 'count'),
}
STR_FINALS = {
    'str': ('return the string', 'return s', None),
    'len': ('return its length', 'return len(s)', None),
    'vowels': ('return the number of vowels',
               "return sum(c in 'aeiouAEIOU' for c in s)", None),
    'count': ("return how many times '{a}' occurs", "return s.count('{a}')",
              'letter'),
    'words': ('return the number of words', 'return len(s.split())', None),
}
_TABLES = {'list': (LIST_STEPS, LIST_FINALS, 'xs', 'a list of integers xs'),
           'str': (STR_STEPS, STR_FINALS, 's', 'a string s')}


def _params(rng: random.Random, kind: str | None,
            max_value: int) -> dict[str, Any]:
  if kind is None:
    return {}
  if kind == 'value':
    return {'k': rng.randint(1, max(1, max_value - 1))}
  if kind == 'small':
    return {'k': rng.randint(1, 5)}
  if kind == 'factor':
    return {'k': rng.randint(2, 3)}
  if kind == 'count':
    return {'k': rng.randint(1, 3)}
  a = rng.choice(ALPHABET)
  if kind == 'letter':
    return {'a': a}
  return {'a': a, 'b': rng.choice(ALPHABET.replace(a, ''))}


def _draw_spec(rng: random.Random, kind: str, num_ops: int, max_value: int):
  """(step names, final name, [(phrase, code line)] of the steps and then
  of the final step)."""
  steps_table, finals, _, _ = _TABLES[kind]
  names, lines = [], []
  for _ in range(num_ops):
    name = rng.choice([n for n in steps_table if not names or n != names[-1]])
    names.append(name)
    phrase, code, pk = steps_table[name]
    p = _params(rng, pk, max_value)
    lines.append((phrase.format(**p), code.format(**p)))
  final = rng.choice(list(finals))
  phrase, code, pk = finals[final]
  p = _params(rng, pk, max_value)
  lines.append((phrase.format(**p), code.format(**p)))
  return names, final, lines


def _source(arg: str, lines) -> str:
  return f'def f({arg}):\n' + ''.join(f'    {code}\n' for _, code in lines)


def _check(arg_value: Any, expected: Any) -> str:
  return (f'def check(candidate):\n'
          f'    assert candidate({arg_value!r}) == {expected!r}\n')


def held_out_score(prompt: str) -> float:
  """A stable number in [0, 1) per specification (sha256 of the prompt)."""
  return int(hashlib.sha256(prompt.encode('utf-8')).hexdigest()[:12],
             16) / 16 ** 12


@base.register('code_fn')
@dataclasses.dataclass(frozen=True)
class CodeFn(base.Task):
  """Knobs: `num_ops` transforms before the final step (0..MAX_OPS);
  `kind` of input ('list', 'str' or 'mixed'); list values in
  [0, max_value]; inputs of up to `max_len` values (2 * max_len
  characters); `num_tests` inputs per problem; the held-out split
  (`held_out_seed`, `held_out_fraction`; 0 turns it off); `time_limit_s`
  per test, for the sandbox."""
  num_ops: int = 2
  kind: str = 'list'
  max_value: int = 9
  max_len: int = 6
  num_tests: int = 6
  held_out_seed: int = 1
  held_out_fraction: float = 0.2
  time_limit_s: float = 1.0

  def __post_init__(self):
    if not 0 <= self.num_ops <= MAX_OPS:
      raise ValueError(f'num_ops={self.num_ops}: must be in [0, {MAX_OPS}]')
    if self.kind not in KINDS:
      raise ValueError(f'kind={self.kind!r}: expected one of {KINDS}')
    if self.max_value < 2 or self.max_len < 2:
      raise ValueError('max_value and max_len must be >= 2')
    if self.num_tests < 2:
      raise ValueError(f'num_tests={self.num_tests}: must be >= 2')
    if not 0.0 <= self.held_out_fraction < 1.0:
      raise ValueError(f'held_out_fraction={self.held_out_fraction}: must '
                       'be in [0, 1)')

  def _input(self, rng: random.Random, kind: str):
    if kind == 'list':
      return [rng.randint(0, self.max_value)
              for _ in range(rng.randint(0, self.max_len))]
    chars = [' ' if rng.random() < 0.2 else rng.choice(ALPHABET)
             for _ in range(rng.randint(0, 2 * self.max_len))]
    return ''.join(chars)

  def generate(self, seed: int, index: int) -> dict[str, Any]:
    rng = self.rng(seed, index)
    held_out = self.held_out_fraction > 0 and seed == self.held_out_seed
    for _ in range(10000):
      kind = (rng.choice(('list', 'str')) if self.kind == 'mixed'
              else self.kind)
      names, final, lines = _draw_spec(rng, kind, self.num_ops,
                                       self.max_value)
      _, _, arg, noun = _TABLES[kind]
      plan = [phrase for phrase, _ in lines]
      # No final period: the R1-Zero template adds one.
      prompt = f'Write f({arg}) for {noun}: {", then ".join(plan)}'
      if (self.held_out_fraction > 0 and
          (held_out_score(prompt) < self.held_out_fraction) != held_out):
        continue
      source = _source(arg, lines)
      namespace = {}
      compiled = compile(source, '<code_fn reference>', 'exec')
      exec(compiled, namespace)  # pylint: disable=exec-used
      inputs = [self._input(rng, kind) for _ in range(self.num_tests)]
      outputs = [namespace['f'](x[:]) for x in inputs]
      # Tests a constant function passes teach nothing: draw again.
      if len({repr(o) for o in outputs}) < 2:
        continue
      break
    else:
      raise RuntimeError(f'code_fn: no problem found for seed {seed}, index '
                         f'{index} with {self}')
    return dict(
        id=f'{self.name}/{seed}/{index}', prompt=prompt, answer='',
        answer_type='code', task=self.name, lang='en',
        tests=[dict(input=_check(x, y), output='', testtype='check')
               for x, y in zip(inputs, outputs)],
        fn_name='f', time_limit_s=self.time_limit_s, reference=source,
        kind=kind, num_ops=len(names), steps=names, final=final, plan=plan,
        held_out=held_out)

  def verify(self, answer: str | None, example: Mapping[str, Any]) -> bool:
    """True if the code passes every test, run in the sandbox
    (`rewards.code`); raises if the sandbox could not run it, which the
    code reward instead masks out."""
    if answer is None:
      return False
    from r1jax.rewards import code  # pylint: disable=g-import-not-at-top
    judged, = code.judge([answer], [example])
    if judged.infra:
      raise RuntimeError(f'{example["id"]}: the sandbox could not run the '
                         'program (infrastructure error)')
    return judged.passed == len(example['tests'])

  def device_answer(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {}  # Host rewards only (the code runs in the sandbox).


def check_code(example: Mapping[str, Any]) -> str:
  """All of the example's asserts as one `check(candidate)` (trusted
  reference inputs and outputs; for tests and HumanEval-style tools)."""
  lines = ['def check(candidate):\n']
  for t in example['tests']:
    lines += t['input'].splitlines(keepends=True)[1:]
  return ''.join(lines)


def reference_completion(example: Mapping[str, Any],
                         code: str | None = None) -> str:
  """An R1-format completion: the plan in `<think>`, the reference (or
  `code`) fenced in `<answer>`; `rewards.code` extracts the fenced block
  after `</think>`, and the format reward accepts the layout."""
  plan = ' '.join(f'step {i}: {p}.' for i, p in enumerate(example['plan'], 1))
  code = example['reference'] if code is None else code
  return (f'<think> {plan} </think> <answer>\n```python\n{code}```\n'
          '</answer>')


def _bug(example: Mapping[str, Any], rng: random.Random) -> str:
  """The reference with a plausible slip: one transform line left out, or,
  with no transforms, the input returned as it is (0 if that was right)."""
  head, *steps, final = example['reference'].splitlines(keepends=True)
  if steps:
    del steps[rng.randrange(len(steps))]
    return head + ''.join(steps) + final
  arg = 'xs' if example['kind'] == 'list' else 's'
  wrong = f'return {arg}' if final.strip() != f'return {arg}' else 'return 0'
  return f'{head}    {wrong}\n'


def code_fn_corpus(num_docs: int = 2000, seed: int = 100,
                   template: str = 'r1_zero', p_bug: float = 0.3,
                   **task_kwargs) -> list[dict[str, Any]]:
  """Pretraining text for a code base model: code_fn problems in
  `template`, each followed by `reference_completion`, whose code has a
  slip (`_bug`: a step left out) with probability `p_bug`, so RL has
  something to improve. Never holds a held-out problem (raises if `seed`
  is the task's held-out seed). Deterministic in the arguments."""
  # Here, not at the top: task modules stay free of the template (jinja2)
  # imports, which reward worker processes never need.
  from r1jax.data import templates  # pylint: disable=g-import-not-at-top
  task = base.get('code_fn', **task_kwargs)
  if task.held_out_fraction > 0 and seed == task.held_out_seed:
    raise ValueError(f'seed={seed} is the held-out seed of code_fn; the '
                     'corpus would hold the held-out problems')
  docs = []
  for i in range(num_docs):
    ex = task.generate(seed, i)
    rng = random.Random(f'code_fn_corpus/{seed}/{i}')
    code = _bug(ex, rng) if rng.random() < p_bug else None
    docs.append({'text': templates.render(template, ex['prompt']) + ' '
                         + reference_completion(ex, code)})
  return docs
