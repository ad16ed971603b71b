"""LiveCodeBench code generation (livecodebench/code_generation_lite).

The Hub repository holds JSONL files `test.jsonl`, `test2.jsonl`, ...,
`test6.jsonl`; its loading script maps `release_vN` to the first N of them
(cumulative), `vN` to the N-th alone and `vA_vB` to files A..B. Every line
has the string columns `question_title`, `question_content`, `platform`,
`question_id`, `contest_id`, `contest_date` (ISO, e.g.
'2023-08-21T00:00:00'), `starter_code`, `difficulty`, `public_test_cases`
(a JSON list of {input, output, testtype}), `private_test_cases` (the same
JSON, or base64(zlib(pickle(that JSON string)))) and `metadata` (JSON,
`func_name` for LeetCode's functional problems).

The private tests are unpickled with an Unpickler that refuses every global
(the payload is a plain str), so a tampered file cannot run code. The date
window keeps problems with start_date <= contest_date <= end_date, as LCB's
`load_code_generation_dataset` compares (dates at midnight: an end date of
2025-01-01 drops a problem dated 2025-01-01T18:30).
"""
import base64
import datetime
import io
import json
import os
import pickle
import re
import zlib
from typing import Any

from r1jax.data.benchmarks import tables

FILES = ('test.jsonl', 'test2.jsonl', 'test3.jsonl', 'test4.jsonl',
         'test5.jsonl', 'test6.jsonl')
COLUMNS = ('question_title', 'question_content', 'platform', 'question_id',
           'contest_id', 'contest_date', 'starter_code', 'difficulty',
           'public_test_cases', 'private_test_cases', 'metadata')
TEST_TYPES = ('stdin', 'functional')

# LCB's prompt pieces (lcb_runner/prompts/code_generation.py).
SYSTEM_MESSAGE = (
    'You are an expert Python programmer. You will be given a question '
    '(problem specification) and will generate a correct Python program '
    'that matches the specification and passes all tests.')
WITH_STARTER_CODE = (
    'You will use the following starter code to write the solution to the '
    'problem and enclose your code within delimiters.')
WITHOUT_STARTER_CODE = (
    'Read the inputs from stdin solve the problem and write the answer to '
    'stdout (do not directly test on the sample inputs). Enclose your code '
    'within delimiters as follows. Ensure that when the python program '
    'runs, it reads the inputs, runs the algorithm and writes output to '
    'STDOUT.')
R1_INSTRUCTION = (
    'You will be given a question (problem specification) and will '
    'generate a correct Python program that matches the specification and '
    'passes all tests.')
PROMPT_STYLES = ('deepseek_r1', 'generic')


def version_files(version: str) -> tuple[str, ...]:
  """The files of an LCB version tag: release_v1..release_v6 (cumulative),
  release_latest, v1..v6 (one file) or vA_vB (files A..B)."""
  if version == 'release_latest':
    return FILES
  m = re.fullmatch(r'release_v(\d)', version)
  if m and 1 <= int(m[1]) <= len(FILES):
    return FILES[:int(m[1])]
  m = re.fullmatch(r'v(\d)(?:_v(\d))?', version)
  if m:
    a, b = int(m[1]), int(m[2] or m[1])
    if 1 <= a <= b <= len(FILES):
      return FILES[a - 1:b]
  raise ValueError(f'unknown LiveCodeBench version {version!r}: expected '
                   'release_v1..release_v6, release_latest, vN or vA_vB')


def prompt(question_content: str, starter_code: str,
           style: str = 'deepseek_r1') -> str:
  """The user turn LCB builds for a problem (starter-code or stdin form).

  'deepseek_r1': the body LCB's DeepSeekR1 style (the R1 and R1-Distill
  models' entry in lm_styles.py; also lighteval's lcb prompt) puts between
  `<｜User｜>` and `<｜Assistant｜>`; the chat markup and LCB's R1-Zero
  system text around it are the template's business. 'generic': the user
  message of LCB's chat-API styles (their system message is
  SYSTEM_MESSAGE).
  """
  fence = (f'```python\n{starter_code}\n```\n\n' if starter_code
           else '```python\n# YOUR CODE HERE\n```\n\n')
  how = WITH_STARTER_CODE if starter_code else WITHOUT_STARTER_CODE
  if style == 'deepseek_r1':
    return (f'{R1_INSTRUCTION}\n\nQuestion: {question_content}\n\n'
            f'{how}\n{fence}')
  if style == 'generic':
    return (f'### Question:\n{question_content}\n\n### Format: {how}\n'
            f'{fence}### Answer: (use the provided format with backticks)'
            '\n\n')
  raise ValueError(f'prompt style {style!r}; expected one of '
                   f'{PROMPT_STYLES}')


class _NoGlobalsUnpickler(pickle.Unpickler):
  """Builds only pickle's primitive values: any class or function lookup
  (the way a pickle runs code) is refused."""

  def find_class(self, module, name):
    raise pickle.UnpicklingError(
        f'the pickle references {module}.{name}; a LiveCodeBench test '
        'payload is a plain string')

  def persistent_load(self, pid):
    raise pickle.UnpicklingError('the pickle uses a persistent id')


def decode_private_tests(value: Any) -> list[Any]:
  """`private_test_cases` as a list: JSON, or base64(zlib(pickle(JSON
  string))) unpickled without running any code."""
  if isinstance(value, list):
    return value
  if not isinstance(value, str):
    raise ValueError(f'expected a string, got {type(value).__name__}')
  try:
    return json.loads(value)
  except json.JSONDecodeError:
    pass
  try:
    raw = zlib.decompress(base64.b64decode(value.encode('utf-8')))
  except (ValueError, zlib.error) as e:
    raise ValueError(f'neither JSON nor base64(zlib(...)): {e}') from None
  try:
    payload = _NoGlobalsUnpickler(io.BytesIO(raw)).load()
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'refused to unpickle: {e}') from None
  if isinstance(payload, bytes):
    payload = payload.decode('utf-8')
  if not isinstance(payload, str):
    raise ValueError(f'the pickle holds a {type(payload).__name__}, not '
                     'the JSON string of the tests')
  return json.loads(payload)


def _tests(value: Any, private: bool) -> list[dict[str, str]]:
  if private:
    items = decode_private_tests(value)
  elif isinstance(value, str):
    items = json.loads(value)
  else:
    items = value
  if not isinstance(items, list):
    raise ValueError(f'expected a list of tests, got {type(items).__name__}')
  out = []
  for t in items:
    if not isinstance(t, dict) or not {'input', 'output', 'testtype'} <= set(t):
      raise ValueError(f'a test is not {{input, output, testtype}}: '
                       f'{str(t)[:80]}')
    if t['testtype'] not in TEST_TYPES:
      raise ValueError(f'testtype {t["testtype"]!r} not in {TEST_TYPES}')
    out.append(dict(input=t['input'], output=t['output'],
                    testtype=t['testtype']))
  return out


def parse_date(value: Any) -> datetime.datetime:
  """A contest_date or window bound as a naive datetime (UTC if it had a
  zone): ISO text, a date or a datetime (Parquet timestamps)."""
  if isinstance(value, str):
    value = datetime.datetime.fromisoformat(value.strip())
  elif isinstance(value, datetime.date) and not isinstance(
      value, datetime.datetime):
    value = datetime.datetime(value.year, value.month, value.day)
  if not isinstance(value, datetime.datetime):
    raise ValueError(f'not a date: {value!r}')
  if value.tzinfo is not None:
    value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
  return value


def _files(path, version: str | None) -> list[str]:
  if isinstance(path, (list, tuple)) or not os.path.isdir(os.fspath(path)):
    if version is not None:
      raise ValueError('version picks files in a directory; pass the '
                       'directory, or the files without version')
    return tables.resolve_files(path)
  path = os.fspath(path)
  if version is not None:
    names = version_files(version)
    missing = [n for n in names if not os.path.isfile(os.path.join(path, n))]
    if missing:
      raise FileNotFoundError(f'{path}: LiveCodeBench {version} needs '
                              f'{missing}, not found there')
  else:
    names = [n for n in FILES if os.path.isfile(os.path.join(path, n))]
  if not names:
    return tables.resolve_files(path)  # E.g. a Parquet conversion.
  return [os.path.join(path, n) for n in names]


def load_livecodebench(path, *, version: str | None = None,
                       start_date=None, end_date=None,
                       prompt_style: str = 'deepseek_r1',
                       with_tests: bool = True) -> list[dict[str, Any]]:
  """LiveCodeBench code-generation problems.

  `path`: the dataset directory (then `version`, e.g. 'release_v5', picks
  its files; without it every test*.jsonl there is read), or files.
  `start_date` / `end_date` (ISO text or dates, inclusive) keep the
  problems LCB's window keeps. Records: `prompt` (see `prompt`),
  `answer` '' (there is no reference answer), `answer_type` 'code', `tests`
  (public then private, each {input, output, testtype}; left out when
  `with_tests` is False), `n_public_tests`, `fn_name` (None for stdin
  problems), and the problem's columns.
  """
  if prompt_style not in PROMPT_STYLES:
    raise ValueError(f'prompt_style={prompt_style!r}; expected one of '
                     f'{PROMPT_STYLES}')
  start = parse_date(start_date) if start_date is not None else None
  end = parse_date(end_date) if end_date is not None else None
  out = []
  for f, n, r in tables.iter_rows(_files(path, version)):
    tables.require(r, COLUMNS, f, n)
    where = f'{f}: row {n} (question_id {r["question_id"]})'
    try:
      date = parse_date(r['contest_date'])
    except ValueError as e:
      raise ValueError(f'{where}: contest_date: {e}') from None
    if (start and date < start) or (end and date > end):
      continue
    meta = r['metadata']
    try:
      meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
    except (TypeError, ValueError) as e:
      raise ValueError(f'{where}: metadata: {e}') from None
    if not isinstance(meta, dict):
      raise ValueError(f'{where}: metadata is not a JSON object')
    starter = r['starter_code'] or ''
    rec = dict(
        id=f'livecodebench/{r["platform"]}/{r["question_id"]}',
        prompt=prompt(r['question_content'], starter, prompt_style),
        answer='', answer_type='code', task='livecodebench',
        fn_name=meta.get('func_name'), platform=r['platform'],
        question_id=str(r['question_id']), question_title=r['question_title'],
        contest_id=str(r['contest_id']), contest_date=date.isoformat(),
        difficulty=r['difficulty'], starter_code=starter, metadata=meta)
    if with_tests:
      try:
        public = _tests(r['public_test_cases'], private=False)
      except ValueError as e:
        raise ValueError(f'{where}: public_test_cases: {e}') from None
      try:
        private = _tests(r['private_test_cases'], private=True)
      except ValueError as e:
        raise ValueError(f'{where}: private_test_cases: {e}') from None
      rec.update(tests=public + private, n_public_tests=len(public))
    out.append(rec)
  tables.check_unique_ids(out, str(path))
  return out
