"""Benchmark files laid out as published, shared by the loader tests.

Static fixtures (tests/data/benchmark_files/) are text files laid out as on
the Hub; LiveCodeBench rows, whose private tests must be compressed the way
LCB's dataset builder did, are written per test.
"""
import base64
import json
import pathlib
import pickle
import zlib

FILES = pathlib.Path(__file__).parent / 'benchmark_files'
GPQA_CSV = FILES / 'gpqa_diamond.csv'
GPQA_CHOICES = ('Correct Answer', 'Incorrect Answer 1', 'Incorrect Answer 2',
                'Incorrect Answer 3')


def jsonl(path, rows):
  path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  return path


def compress_tests(tests) -> str:
  """What LCB's dataset builder stored for private tests."""
  return base64.b64encode(zlib.compress(
      pickle.dumps(json.dumps(tests), protocol=4))).decode('utf-8')


def lcb_row(qid, date, *, platform='atcoder', starter='', func=None,
             private=None, compress=True, **overrides):
  testtype = 'functional' if func else 'stdin'
  public = [dict(input='1\n2\n', output='3\n', testtype=testtype)]
  private = private if private is not None else [
      dict(input=f'{k}\n{k}\n', output=f'{2 * k}\n', testtype=testtype)
      for k in range(3)]
  row = dict(
      question_title=f'title {qid}', question_content=f'Solve {qid}.',
      platform=platform, question_id=qid, contest_id=qid.split('_')[0],
      contest_date=date, starter_code=starter,
      difficulty='easy', public_test_cases=json.dumps(public),
      private_test_cases=(compress_tests(private) if compress
                          else json.dumps(private)),
      metadata=json.dumps({'func_name': func} if func else {}))
  row.update(overrides)
  return row


def lcb_dir(tmp_path):
  d = tmp_path / 'code_generation_lite'
  d.mkdir()
  jsonl(d / 'test4.jsonl', [
      lcb_row('abc360_a', '2024-06-30T00:00:00'),
      lcb_row('abc365_b', '2024-08-03T00:00:00')])
  jsonl(d / 'test5.jsonl', [
      lcb_row('3600', '2024-10-12T00:00:00', platform='leetcode',
               starter='class Solution:\n    def addTwo(self, a: int, b: int) '
                       '-> int:\n        ', func='addTwo', compress=False),
      lcb_row('2041_C', '2024-12-31T00:00:00', platform='codeforces'),
      lcb_row('abc386_c', '2025-01-01T00:00:00'),
      lcb_row('3708', '2025-01-11T18:30:00', platform='leetcode',
               starter='class Solution:\n    pass', func='zigzag')])
  (d / 'README.md').write_text('card')
  return d
