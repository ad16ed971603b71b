"""Scoring sampled completions of one benchmark (host side, no JAX).

The R1 protocol samples n completions per problem and reports pass@1 (the
mean correctness over the n samples) and cons@n (the majority-voted answer).
This module turns completions into per-sample `Score`s and answer groups for
the vote; `evaluation.report` turns those into metrics.

Rules (chosen to avoid lighteval's traps):
- Only the final section is scored: the text after the last `</think>`.
  A completion whose think block was opened (by the template, or by the
  completion itself) but never closed has no final section and no answer,
  even if its chain of thought contains a `\\boxed{}` (lighteval scores the
  chain of thought when the template prefilled `<think>`).
- Maths and synthetic tasks: the answer is the single `<answer>` block of the
  final section if it has `<answer>` tags (R1-Zero's template), else its last
  `\\boxed{}` (`rewards.extract`). Choices: a lone letter as that answer, or
  simple-evals' 'Answer: X' line (`rewards.accuracy.choice_letter`).
- Maths is checked by math-verify (gold first) in worker processes with a
  hard time limit per call; all calls of a benchmark go in one `pool.map`.
  A timeout, error or dead worker scores incorrect and is reported in
  `Score.status`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, Sequence

from r1jax.data import tasks
from r1jax.evaluation import passk
from r1jax.rewards import accuracy
from r1jax.rewards import code as code_lib
from r1jax.rewards import extract as extract_lib
from r1jax.rewards import math_check
from r1jax.rewards import pool as pool_lib

THINK_OPEN, THINK_CLOSE = '<think>', '</think>'
# Score.status besides pool.OK / TIMEOUT / ERROR / INFRA.
NO_ANSWER = 'no_answer'
# An answer longer than `max_answer_chars` is not parsed (a 10^6-character
# `\boxed{}` would only burn checker time); it scores incorrect.
TOO_LONG = 'too_long'
KINDS = ('math', 'choice', 'task', 'code')


@dataclasses.dataclass(frozen=True)
class Score:
  """The result of one completion.

  answer: the extracted answer (a letter for choices), None if none.
  correct: the answer matches the reference.
  formatted: the think block (if one was opened) was closed and an answer
    was extracted from the final section.
  status: how the check went: pool.OK, pool.TIMEOUT, pool.ERROR, pool.INFRA,
    NO_ANSWER or TOO_LONG. Only OK can be correct.
  """
  answer: str | None
  correct: bool
  formatted: bool
  status: str


def kind(example: Mapping[str, Any]) -> str:
  """'code', 'task', 'choice' or 'math', as `rewards.accuracy` dispatches.

  Code problems (answer_type 'code', synthetic code tasks included) run
  their tests in the sandbox (`rewards.code`).
  """
  answer_type = example.get('answer_type')
  if answer_type == 'code':
    return 'code'
  if tasks.is_task(example.get('task')):
    return 'task'
  return 'choice' if answer_type == 'choice' else 'math'


def final_section(completion: str, think_opened: bool) -> str | None:
  """The text after the last `</think>`, or None if thinking never ended.

  `think_opened`: the template already emitted `<think>` (the completion
  starts inside the think block). Without any `</think>`, the completion has
  no final section (None) if a think block was opened, by the template or by
  a `<think>` in the completion; if none was, the whole completion is the
  final section (e.g. a template without think tags).
  """
  i = completion.rfind(THINK_CLOSE)
  if i >= 0:
    return completion[i + len(THINK_CLOSE):]
  if think_opened or THINK_OPEN in completion:
    return None
  return completion


def extract(completion: str, answer_type: str,
            think_opened: bool) -> str | None:
  """The answer of a completion from its final section, or None.

  answer_type: 'math' or 'task' (the `<answer>` block, else the last
  `\\boxed{}`), 'choice' (the upper-case letter), 'code' (the last fenced
  code block).
  """
  if answer_type not in KINDS:
    raise ValueError(f'unknown answer_type {answer_type!r}; expected one of '
                     f"{KINDS + ('code',)}")
  section = final_section(completion, think_opened)
  if section is None:
    return None
  # `section` has no `</think>`, so the reward helpers (which themselves
  # look after the last `</think>`) see exactly the final section.
  if answer_type == 'choice':
    return accuracy.choice_letter(section)
  if answer_type == 'code':
    return code_lib.extract_code(section)
  return extract_lib.extract_answer(section)


def score(examples: Sequence[Mapping[str, Any]],
          completions_PxN: Sequence[Sequence[str]], think_opened: bool, *,
          timeout_s: float = 5.0, num_workers: int = 0,
          max_answer_chars: int = 1000) -> list[list[Score]]:
  """Scores n completions of each of P problems of one benchmark.

  examples: P dicts with `answer` and `answer_type` (or a synthetic `task`).
  completions_PxN: completions_PxN[p] are the completions of examples[p]
    (rows may differ in length; `report` checks the counts).
  think_opened: the template prefilled `<think>`
    (`templates.think_opened(name)`).
  timeout_s: time limit of one math-verify call.
  num_workers: size of the shared checker pool (`pool.get_pool`); 0: auto.
  Returns scores_PxN in the layout of completions_PxN.
  """
  if len(examples) != len(completions_PxN):
    raise ValueError(f'{len(completions_PxN)} completion lists for '
                     f'{len(examples)} examples')
  kinds_P = [kind(ex) for ex in examples]
  out: list[list[Score | None]] = [[None] * len(c) for c in completions_PxN]
  math_calls, math_rows = [], []
  code_calls, code_rows = [], []
  for p, (ex, k, completions_N) in enumerate(
      zip(examples, kinds_P, completions_PxN)):
    for j, text in enumerate(completions_N):
      ans = extract(text, k, think_opened)
      if ans is None:
        out[p][j] = Score(None, False, False, NO_ANSWER)
      elif k == 'code':  # programs are long: no max_answer_chars
        code_calls.append((ans, ex))
        code_rows.append((p, j))
      elif len(ans) > max_answer_chars:
        out[p][j] = Score(ans, False, True, TOO_LONG)
      elif k == 'choice':
        ok = ans == str(ex['answer']).strip().upper()
        out[p][j] = Score(ans, ok, True, pool_lib.OK)
      elif k == 'task':
        try:
          ok = bool(tasks.get(ex['task']).verify(ans, ex))
          out[p][j] = Score(ans, ok, True, pool_lib.OK)
        except Exception:  # pylint: disable=broad-except
          out[p][j] = Score(ans, False, True, pool_lib.ERROR)
      else:
        math_calls.append((ans, str(ex['answer'])))
        math_rows.append((p, j))
  if math_calls:
    p_ = pool_lib.get_pool(math_check.init_worker, num_workers)
    results = p_.map(math_check.check_math, math_calls, timeout_s)
    for (p, j), (ans, _), res in zip(math_rows, math_calls, results):
      ok = res.status == pool_lib.OK and bool(res.value)
      out[p][j] = Score(ans, ok, True, res.status)
  if code_calls:
    judged = code_lib.judge([a for a, _ in code_calls],
                            [ex for _, ex in code_calls],
                            pool=code_lib.shared_pool(num_workers))
    for (p, j), (ans, _), jd in zip(code_rows, code_calls, judged):
      status = jd.first_failure()
      out[p][j] = Score(ans, status == 'pass', True,
                        pool_lib.OK if status == 'pass' else status)
  return out  # pytype: disable=bad-return-type


def _normalize(answer: str, answer_type: str) -> str:
  answer = answer.strip()
  return answer.upper() if answer_type == 'choice' else answer


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str):
  import math_verify  # pylint: disable=g-import-not-at-top
  return math_verify.parse(text, parsing_timeout=None)


def same_math_answer(new: str, rep: str) -> bool:
  """`math_check.check_math(new, rep)`, with parses cached; runs in a worker.

  The same rule as scoring (`rep` plays gold, parsed as `\\boxed{rep}`, and
  comes first in `verify`), but grouping compares every pair of distinct
  answers that meet, and parsing costs ~100x a `verify` of parsed answers,
  so each worker keeps the parses of the answers it has seen.
  """
  return math_check.check_math(new, rep, parse=_parse_cached)


def answer_groups_batch(answers_PxN: Sequence[Sequence[str | None]],
                        answer_type: str, *, timeout_s: float = 5.0,
                        pool: pool_lib.TimeoutPool | None = None,
                        num_workers: int = 0,
                        max_answer_chars: int = 1000
                        ) -> list[list[int | None]]:
  """`answer_groups` of P problems; maths checks batched across problems.

  The greedy grouping is sequential within a problem (a new distinct answer
  is compared with the groups formed before it), so it runs in rounds: each
  round places the next distinct answer of every problem, comparing it with
  all its groups' representatives in one `pool.map`. Rounds <= n.
  """
  if answer_type not in KINDS:
    raise ValueError(f'unknown answer_type {answer_type!r}')
  if answer_type != 'math':
    out = []
    for answers_N in answers_PxN:
      ids: dict[str, int] = {}
      out.append([None if a is None else
                  ids.setdefault(_normalize(a, answer_type), len(ids))
                  for a in answers_N])
    return out

  # Maths. Distinct strings in first-occurrence order; reps[p][g] is the
  # first answer of group g of problem p; group_of[p] maps string -> group.
  distinct = [list(dict.fromkeys(a for a in answers_N if a is not None))
              for answers_N in answers_PxN]
  reps: list[list[str]] = [[] for _ in answers_PxN]
  group_of: list[dict[str, int]] = [{} for _ in answers_PxN]
  cursor = [0] * len(answers_PxN)
  while True:
    calls, owners = [], []  # owners[i]: (problem, group) of calls[i].
    for p, distinct_D in enumerate(distinct):
      # Place, without checking, answers that have no group to join or are
      # too long to parse; stop at the first one that needs math-verify.
      while cursor[p] < len(distinct_D):
        a = distinct_D[cursor[p]]
        checkable = [g for g, rep in enumerate(reps[p])
                     if len(rep) <= max_answer_chars]
        if checkable and len(a) <= max_answer_chars:
          for g in checkable:
            # verify(parse(rep), parse(a)): the representative plays gold,
            # as it was the first seen.
            calls.append((a, reps[p][g]))
            owners.append((p, g))
          break
        group_of[p][a] = len(reps[p])
        reps[p].append(a)
        cursor[p] += 1
    if not calls:
      break
    if pool is None:
      pool = pool_lib.get_pool(math_check.init_worker, num_workers)
    results = pool.map(same_math_answer, calls, timeout_s)
    matched: dict[int, int] = {}
    for (p, g), res in zip(owners, results):
      if res.status == pool_lib.OK and res.value:
        matched[p] = min(g, matched.get(p, g))
    for p in {p for p, _ in owners}:
      a = distinct[p][cursor[p]]
      if p in matched:
        group_of[p][a] = matched[p]
      else:
        group_of[p][a] = len(reps[p])
        reps[p].append(a)
      cursor[p] += 1
  return [[None if a is None else group_of[p][a] for a in answers_N]
          for p, answers_N in enumerate(answers_PxN)]


def answer_groups(answers_N: Sequence[str | None], answer_type: str, *,
                  timeout_s: float = 5.0,
                  pool: pool_lib.TimeoutPool | None = None,
                  num_workers: int = 0,
                  max_answer_chars: int = 1000) -> list[int | None]:
  """Group ids of the n answers of one problem, for majority voting.

  None answers get None. Choices and tasks: equal normalized strings
  (stripped; letters upper-cased). Maths: answers equivalent per math-verify
  share a group. Greedy, in sample order: an exact repeat of a string joins
  that string's group (no check); a new string is compared with the first
  member (representative) of every existing group and joins the lowest
  numbered group it matches, else starts a new group. Group ids are numbered
  in first-occurrence order, so the result is deterministic.

  Equivalence is `same_math_answer(new, rep)` (= `math_check.check_math`),
  i.e. math-verify's `verify(parse(rep), parse(new))`: math-verify is not symmetric (its first
  argument is treated as the gold answer), and the representative, seen
  first, plays gold, as the first answer of a group defines it. Each call
  runs in a pool worker with `timeout_s`; a timeout or error counts as 'not
  equivalent'. Answers longer than `max_answer_chars` are grouped by exact
  string only.
  """
  return answer_groups_batch(
      [answers_N], answer_type, timeout_s=timeout_s, pool=pool,
      num_workers=num_workers, max_answer_chars=max_answer_chars)[0]


def majority(groups_N: Sequence[int | None],
             correct_N: Sequence[bool]) -> tuple[int | None, bool]:
  """(voted group, whether the vote is correct); (None, False) if no answer.

  The largest group wins; a tie goes to the group whose first sample came
  first. None (no answer) never votes. The vote is correct iff the first
  sample of the voted group is correct: that sample's answer is the group's
  representative (every member was matched against it), so it is the answer
  the vote returns. Members' own checks can disagree with it (math-verify
  equivalence is not transitive, and a check can time out), and taking any
  other member, or a fraction, would make cons@n depend on them.
  """
  if len(groups_N) != len(correct_N):
    raise ValueError(f'{len(groups_N)} groups for {len(correct_N)} samples')
  voted, j = passk.majority_vote(groups_N, normalize=lambda g: g)
  return (None, False) if j is None else (voted, bool(correct_N[j]))
