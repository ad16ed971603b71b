"""Filter report: per-filter rows and acceptance against difficulty."""
import json

from r1jax.rejection import chain
from r1jax.rejection import report
from tests.rejection.filters_test import CLEAN
from tests.rejection.filters_test import record


def test_buckets():
  assert [report.bucket(x) for x in (0, .1, .25, .5, .6, .75, .8, 1)] == [
      '0', '(0, .25]', '(0, .25]', '(.25, .5]', '(.5, .75]', '(.5, .75]',
      '(.75, 1)', '1']


def test_filter_report():
  # p0: never solved; p1: 2 of 4 correct, one of them without a summary;
  # p2: 4 of 4 correct, capped at 2 kept.
  samples = [record(f'{CLEAN} {i}', pid='p0', sample=i, correct=False)
             for i in range(4)]
  samples += [record(f'{CLEAN} {i}' if i else 'no summary', pid='p1',
                     sample=i, correct=i < 2) for i in range(4)]
  samples += [record(f'{CLEAN} {i}', pid='p2', sample=i) for i in range(4)]
  out, counts = chain.apply(samples, ['correct', 'summary'], {},
                            think_opened=True)
  out = chain.select(out, 2)
  counts = chain.add_selection(counts, out)
  rep = report.filter_report(out, counts, num_samples_per_prompt=4)
  json.dumps(rep)
  assert (rep['total'], rep['kept'], rep['prompts']) == (12, 3, 3)
  assert rep['prompts_zero_kept'] == 1 and rep['prompts_incomplete'] == 0
  rows = {r['name']: r for r in rep['filters']}
  assert [r['name'] for r in rep['filters']] == ['correct', 'summary',
                                                 'max_per_prompt']
  assert (rows['correct']['rejected'], rows['correct']['reaching']) == (6, 12)
  assert rows['summary']['rejected'] == 1
  assert rows['summary']['of_reaching'] == 1 / 6
  assert rows['summary']['of_total'] == 1 / 12
  assert rows['max_per_prompt']['rejected'] == 2
  assert rep['kept_per_prompt'] == {'0': 1, '1': 1, '2': 1, '3': 0, '4': 0}
  diff = {r['bucket']: r for r in rep['difficulty']}
  assert diff['0'] == dict(bucket='0', prompts=1, samples=4, kept=0,
                           prompts_zero_kept=1, acceptance=0.0)
  assert diff['(.25, .5]']['kept'] == 1 and diff['1']['kept'] == 2
  assert diff['(.75, 1)']['acceptance'] is None
  md = report.markdown(rep)
  assert '| summary | 6 | 1 | 8.3% | 16.7% |' in md
  assert '| 1 | 1 | 4 | 2 | 50.0% | 0 |' in md
