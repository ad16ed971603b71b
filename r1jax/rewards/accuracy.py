"""Accuracy reward: 1 if the final answer matches the reference, else 0.

Dispatch on the example:
- `answer_type == 'code'`: every test passes, run in the sandbox
  (`rewards.code`); a program the sandbox could not run at all scores NaN
  (no score: left out of the reward and counted, never a silent 0);
- `task` names a synthetic task: that task's verifier (safe, bounded parser;
  runs in process);
- `answer_type == 'choice'`: multiple-choice letter match;
- otherwise maths: math-verify (gold first) in a worker process with a hard
  time limit; a timeout, error or dead worker (pool.INFRA, after retries)
  scores 0 and counts as a failure.
The answer is found by `extract.extract_answer`; for choices the simple-evals
line 'Answer: X' is also accepted.
"""
import re
from typing import Any, Mapping

import numpy as np

from r1jax.data import tasks
from r1jax.rewards import code
from r1jax.rewards import extract
from r1jax.rewards import math_check
from r1jax.rewards import pool
from r1jax.rewards import registry

FAILURE_VALUE = 0.0
# simple-evals ANSWER_PATTERN_MULTICHOICE.
_ANSWER_LINE = re.compile(r'(?i)Answer\s*:\s*\$?([A-J])\$?')
_LETTER = re.compile(r'^\s*[\(\[]?\s*(?:\\text\{)?([A-J])\}?\s*[\)\]\.]?\s*$')


def choice_letter(completion: str) -> str | None:
  """The chosen letter: a lone letter as the answer, or 'Answer: X'."""
  ans = extract.extract_answer(completion)
  if ans is not None:
    m = _LETTER.match(ans)
    return m.group(1).upper() if m else None
  matches = _ANSWER_LINE.findall(extract.final_section(completion))
  return matches[-1].upper() if matches else None


def _kind(example: Mapping[str, Any]) -> str:
  if example.get('answer_type') == 'code':
    return 'code'
  if tasks.is_task(example.get('task')):
    return 'task'
  return 'choice' if example.get('answer_type') == 'choice' else 'math'


@registry.register('accuracy')
def accuracy(batch: registry.RewardBatch, timeout_s: float = 5.0,
             max_answer_chars: int = 1000,
             num_workers: int = 0) -> registry.RewardResult:
  """Scores each completion 1.0 (correct) or 0.0; never raises."""
  if 'accuracy' in batch.cache:
    return batch.cache['accuracy']
  values_B = np.zeros((len(batch),), np.float32)
  math_calls, math_rows = [], []
  code_rows = []
  no_answer = too_long = 0
  for i, (text, ex) in enumerate(zip(batch.completions, batch.examples)):
    kind = _kind(ex)
    if kind == 'code':
      code_rows.append(i)
      continue
    if kind == 'choice':
      values_B[i] = choice_letter(text) == str(ex['answer']).strip().upper()
      continue
    ans = extract.extract_answer(text)
    if ans is None:
      no_answer += 1
    elif len(ans) > max_answer_chars:
      too_long += 1  # Refused without parsing: a 10^6-char \boxed{}.
    elif kind == 'task':
      task = tasks.get(ex['task'])
      values_B[i] = task.verify(ans, ex)
    else:
      math_calls.append((ans, str(ex['answer'])))
      math_rows.append(i)
  timeouts = errors = infra = 0
  if math_calls:
    p = pool.get_pool(math_check.init_worker, num_workers)
    for i, res in zip(math_rows,
                      p.map(math_check.check_math, math_calls, timeout_s)):
      if res.status == pool.OK:
        values_B[i] = float(bool(res.value))
      else:
        values_B[i] = FAILURE_VALUE
        timeouts += res.status == pool.TIMEOUT
        errors += res.status == pool.ERROR
        infra += res.status == pool.INFRA
  if code_rows:  # all tests pass, in the sandbox (rewards.code)
    sub = registry.RewardBatch([batch.completions[i] for i in code_rows],
                               [batch.examples[i] for i in code_rows])
    for i, j in zip(code_rows, code.judge(
        [code.extract_code(t) for t in sub.completions], sub.examples,
        pool=code.shared_pool(num_workers))):
      v = j.first_failure()
      no_answer += v == 'no_code'
      # Not run at all (after retries): no score, never a silent 0.
      values_B[i] = np.nan if j.infra else float(v == 'pass')
      infra += j.infra
  result = registry.RewardResult(
      values_B, failures=timeouts + errors + infra,
      metrics=dict(timeouts=timeouts, errors=errors, infra=infra,
                   no_answer=no_answer, answer_too_long=too_long))
  batch.cache['accuracy'] = result
  return result
