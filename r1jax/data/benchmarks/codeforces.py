"""Codeforces problems in the format open-r1 published (open-r1/codeforces).

The Hub dataset has configs `default` and `verifiable` (Parquet,
`data/train-*.parquet` and `data/test-*.parquet`; `test` holds 468
problems). Columns, as the dataset card's features list them: `id`
('<contest_id>/<index>', e.g. '2046/A'), `aliases` (list), `contest_id`,
`contest_name`, `contest_type`, `contest_start` (unix time),
`contest_start_year`, `index`, `time_limit` (float, seconds per test),
`memory_limit` (float, MB), `title`, `description`, `input_format`,
`output_format`, `interaction_format` (set only for interactive problems),
`note`, `examples` and `official_tests` (lists of {input, output}),
`editorial`, `rating` (int, may be null), `tags` (list), `testset_size`,
`official_tests_complete` (bool: no official test was left out for being
truncated), `input_mode` ('stdio', or 'file': input.txt / output.txt),
`generated_checker` (Python checker source for problems with several right
answers, else null), `executable` (bool), `generated_tests` (int, count of
the extra tests in a separate archive, which this loader does not read).

A problem is scorable here when the program reads stdin and writes stdout
(`input_mode` 'stdio'), is not interactive and needs no checker: then exact
output comparison (`rewards.code`, testtype 'stdin') is the verdict.

Results are reported as pass@1 by problem rating (`pass_at_1_by_rating`).
R1's "Codeforces rating" is not that: R1 ran 10 Div. 2 contests with
expert-written tests and placed the model among the human participants of
each contest (expected rating and percentile, [R1v1 §3.1]); that needs each
contest's full problem set with complete tests and its standings, which
this dataset does not carry.
"""
import bisect
from typing import Any, Iterable, Mapping, Sequence

from absl import logging

from r1jax.data.benchmarks import tables
from r1jax.evaluation import passk

COLUMNS = ('id', 'contest_id', 'index', 'title', 'description',
           'input_format', 'output_format', 'interaction_format', 'note',
           'examples', 'time_limit', 'memory_limit', 'rating', 'tags',
           'official_tests', 'official_tests_complete', 'input_mode',
           'generated_checker')
INSTRUCTION = (
    'You will be given a competitive programming problem. Write a Python 3 '
    'program that solves it: it reads the input from standard input and '
    'writes the answer to standard output, printing nothing else. Put the '
    'complete program in a single ```python code block.')
# Lower bounds of the rating buckets: Codeforces' rank boundaries (pupil
# 1200, specialist 1400, expert 1600, candidate master 1900, master 2100,
# international master 2300, grandmaster 2400, international grandmaster
# 2600, legendary grandmaster 3000), so a bucket reads against R1's rating
# (2029: candidate master). Problem ratings are multiples of 100 from 800.
RANK_BOUNDARIES = (1200, 1400, 1600, 1900, 2100, 2300, 2400, 2600, 3000)
UNRATED = 'unrated'


def _blank(value: Any) -> bool:
  return value is None or (isinstance(value, str) and not value.strip())


def unscorable_reason(row: Mapping[str, Any]) -> str | None:
  """Why exact stdout comparison cannot judge this problem, or None."""
  if (row.get('input_mode') or 'stdio') != 'stdio':
    return f'input_mode {row["input_mode"]!r}'
  if not _blank(row.get('interaction_format')):
    return 'interactive'
  if not _blank(row.get('generated_checker')):
    return 'needs a checker'
  return None


def _pairs(value: Any, what: str) -> list[dict[str, str]]:
  if value is None:
    return []
  if not isinstance(value, (list, tuple)):
    raise ValueError(f'{what} is a {type(value).__name__}, not a list')
  out = []
  for i, t in enumerate(value):
    if (not isinstance(t, Mapping) or not isinstance(t.get('input'), str)
        or not isinstance(t.get('output'), str)):
      raise ValueError(f'{what}[{i}] is not {{input: str, output: str}}')
    out.append(dict(input=t['input'], output=t['output'], testtype='stdin'))
  return out


def _number(x: float | None, unit: str) -> str:
  if x is None:
    return 'not given'
  return f'{x:g} {unit}' if x != 1 else f'1 {unit[:-1]}'


def prompt(row: Mapping[str, Any]) -> str:
  """INSTRUCTION, then the statement: title, limits, description, input
  and output format, examples (fenced), note."""
  parts = [INSTRUCTION, f'# {row["title"]}',
           f'Time limit per test: {_number(row["time_limit"], "seconds")}\n'
           f'Memory limit per test: '
           f'{_number(row["memory_limit"], "megabytes")}',
           (row['description'] or '').strip()]
  for head, col in (('Input', 'input_format'), ('Output', 'output_format')):
    if not _blank(row[col]):
      parts.append(f'## {head}\n{row[col].strip()}')
  for i, ex in enumerate(row['examples'] or (), 1):
    parts.append(f'## Example {i}\nInput:\n```\n{ex["input"].rstrip()}\n'
                 f'```\nOutput:\n```\n{ex["output"].rstrip()}\n```')
  if not _blank(row['note']):
    parts.append(f'## Note\n{row["note"].strip()}')
  return '\n\n'.join(parts) + '\n'


def load_codeforces(path, *, min_rating: int | None = None,
                    max_rating: int | None = None, only_scorable: bool = True,
                    require_complete_tests: bool = False
                    ) -> list[dict[str, Any]]:
  """Codeforces problems of open-r1/codeforces (Parquet or JSONL files, a
  directory, or a list of them).

  `min_rating` / `max_rating` (inclusive) keep rated problems in range (an
  unrated problem is dropped when either is set). `only_scorable` drops the
  problems `unscorable_reason` names; with False they are kept, with
  `scorable` False and `unscorable` the reason. `require_complete_tests`
  drops problems whose official tests are incomplete.

  Records: `id` 'codeforces/<id>', `prompt` (see `prompt`), `answer` '',
  `answer_type` 'code', `task` 'codeforces', `tests` (official tests as
  stdin tests; the examples when there are none: `tests_source` says
  which), `fn_name` None, `time_limit_s`, `memory_mb` (None when not
  given), `rating` (None if unrated), `contest_id`, `index`, `title`,
  `tags`, `official_tests_complete`, `scorable`, `unscorable` (the
  reason, or None). The counts of dropped problems (by reason) and of
  problems tested on their examples are logged.
  """
  out, dropped, fallback = [], {}, 0
  for f, n, r in tables.iter_rows(tables.resolve_files(path)):
    tables.require(r, COLUMNS, f, n)
    where = f'{f}: row {n} (id {r["id"]})'
    rating = r['rating']
    if rating is not None and not isinstance(rating, int):
      try:
        rating = int(rating)
      except (TypeError, ValueError):
        raise ValueError(f'{where}: rating {rating!r} is not an integer'
                         ) from None
    if min_rating is not None or max_rating is not None:
      if (rating is None or (min_rating is not None and rating < min_rating)
          or (max_rating is not None and rating > max_rating)):
        dropped['rating'] = dropped.get('rating', 0) + 1
        continue
    reason = unscorable_reason(r)
    if reason and only_scorable:
      dropped[reason] = dropped.get(reason, 0) + 1
      continue
    complete = bool(r['official_tests_complete'])
    if require_complete_tests and not complete:
      dropped['incomplete tests'] = dropped.get('incomplete tests', 0) + 1
      continue
    try:
      tests = _pairs(r['official_tests'], 'official_tests')
      examples = _pairs(r['examples'], 'examples')
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from None
    source = 'official' if tests else 'examples'
    tests = tests or examples
    if not tests:
      dropped['no tests'] = dropped.get('no tests', 0) + 1
      continue
    fallback += source == 'examples'
    tl, mem = r['time_limit'], r['memory_limit']
    out.append(dict(
        id=f'codeforces/{r["id"]}', prompt=prompt(r), answer='',
        answer_type='code', task='codeforces', tests=tests,
        tests_source=source, fn_name=None,
        time_limit_s=float(tl) if tl is not None else None,
        memory_mb=int(mem) if mem is not None else None, rating=rating,
        contest_id=str(r['contest_id']), index=str(r['index']),
        title=r['title'], tags=list(r['tags'] or ()),
        official_tests_complete=complete, scorable=reason is None,
        unscorable=reason))
  tables.check_unique_ids(out, str(path))
  logging.info('codeforces %s: %d problems; dropped %s; %d tested on their '
               'examples (no official tests)', path, len(out), dropped,
               fallback)
  return out


def rating_bucket(rating: int | None,
                  boundaries: Sequence[int] = RANK_BOUNDARIES) -> str:
  """'<1200', '1200-1399', ..., '3000+' (for the default boundaries), or
  'unrated'."""
  if rating is None:
    return UNRATED
  i = bisect.bisect_right(boundaries, rating)
  if i == 0:
    return f'<{boundaries[0]}'
  if i == len(boundaries):
    return f'{boundaries[-1]}+'
  return f'{boundaries[i - 1]}-{boundaries[i] - 1}'


def pass_at_1_by_rating(
    records_with_scores: Iterable[tuple[Mapping[str, Any], Sequence[float]]],
    boundaries: Sequence[int] = RANK_BOUNDARIES
) -> dict[str, tuple[float, float, int]]:
  """{bucket: (pass@1, stderr, n problems)}, buckets in rating order, then
  'unrated', then 'all'.

  `records_with_scores`: (record, scores of its k samples: 0/1 or partial
  credit in [0, 1]). A problem's pass@1 is its mean score [R1v2 D.1]; a
  bucket's is the mean over its problems, stderr the standard deviation of
  those means (ddof=1) over sqrt(n), as `evaluation.passk`.
  """
  if list(boundaries) != sorted(set(boundaries)) or not boundaries:
    raise ValueError(f'boundaries must be increasing: {boundaries}')
  groups: dict[str, list[float]] = {}
  every = []
  for rec, scores in records_with_scores:
    scores = list(scores)
    if not scores:
      raise ValueError(f'{rec.get("id")}: no scores')
    p = sum(float(s) for s in scores) / len(scores)
    groups.setdefault(rating_bucket(rec.get('rating'), boundaries),
                      []).append(p)
    every.append(p)
  if not every:
    raise ValueError('no records')
  edges = [None, *boundaries]
  order = [rating_bucket(b if b is not None else boundaries[0] - 1,
                         boundaries) for b in edges] + [UNRATED]
  out = {k: (*passk.mean_stderr(groups[k]), len(groups[k]))
         for k in order if k in groups}
  out['all'] = (*passk.mean_stderr(every), len(every))
  return out
