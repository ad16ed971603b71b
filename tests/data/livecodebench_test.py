"""LiveCodeBench code_generation_lite: version files, decoded (and
compressed) private tests, LCB's prompts, the date window, pickles
refused."""
import base64
import datetime
import json
import os
import pickle
import zlib

import pytest

from r1jax.data import benchmarks
from r1jax.data.benchmarks import livecodebench as lcb
from tests.data import benchmark_rows as bf


def test_lcb_version_files():
  assert lcb.version_files('release_v1') == ('test.jsonl',)
  assert lcb.version_files('release_v5')[-1] == 'test5.jsonl'
  assert len(lcb.version_files('release_v6')) == 6
  assert lcb.version_files('release_latest') == lcb.FILES
  assert lcb.version_files('v5') == ('test5.jsonl',)
  assert lcb.version_files('v1_v3') == ('test.jsonl', 'test2.jsonl',
                                        'test3.jsonl')
  assert lcb.version_files('v4_v5') == ('test4.jsonl', 'test5.jsonl')
  for bad in ('release_v9', 'v5_v4', 'latest'):
    with pytest.raises(ValueError, match='unknown LiveCodeBench version'):
      lcb.version_files(bad)


def test_lcb_records_and_decoded_tests(tmp_path):
  d = bf.lcb_dir(tmp_path)
  exs = {e['question_id']: e for e in lcb.load_livecodebench(d)}
  assert sorted(exs) == ['2041_C', '3600', '3708', 'abc360_a', 'abc365_b',
                         'abc386_c']
  fn = exs['3600']
  assert fn['id'] == 'livecodebench/leetcode/3600'
  assert fn['answer'] == '' and fn['answer_type'] == 'code'
  assert fn['task'] == 'livecodebench' and fn['fn_name'] == 'addTwo'
  assert fn['n_public_tests'] == 1 and len(fn['tests']) == 4
  assert fn['tests'][1] == dict(input='0\n0\n', output='0\n',
                                testtype='functional')
  std = exs['2041_C']
  assert std['fn_name'] is None and std['platform'] == 'codeforces'
  assert std['tests'][0] == dict(input='1\n2\n', output='3\n',
                                 testtype='stdin')
  assert std['tests'][3] == dict(input='2\n2\n', output='4\n',
                                 testtype='stdin')
  assert std['contest_date'] == '2024-12-31T00:00:00'
  assert not any('tests' in e for e in lcb.load_livecodebench(
      d, with_tests=False))


def test_lcb_prompts_are_lcbs():
  """Written out from lcb_runner/prompts/code_generation.py (DeepSeekR1
  style body, and the generic chat style) for both problem kinds."""
  head = ('You will be given a question (problem specification) and will '
          'generate a correct Python program that matches the specification '
          'and passes all tests.\n\nQuestion: Add.\n\n')
  assert lcb.prompt('Add.', 'class Solution:\n    def f(self):') == (
      head + 'You will use the following starter code to write the solution '
      'to the problem and enclose your code within delimiters.\n```python\n'
      'class Solution:\n    def f(self):\n```\n\n')
  assert lcb.prompt('Add.', '') == (
      head + 'Read the inputs from stdin solve the problem and write the '
      'answer to stdout (do not directly test on the sample inputs). Enclose '
      'your code within delimiters as follows. Ensure that when the python '
      'program runs, it reads the inputs, runs the algorithm and writes '
      'output to STDOUT.\n```python\n# YOUR CODE HERE\n```\n\n')
  generic = lcb.prompt('Add.', '', style='generic')
  assert generic.startswith('### Question:\nAdd.\n\n### Format: Read the '
                            'inputs from stdin')
  assert generic.endswith('```python\n# YOUR CODE HERE\n```\n\n### Answer: '
                          '(use the provided format with backticks)\n\n')
  with pytest.raises(ValueError, match='prompt style'):
    lcb.prompt('Add.', '', style='chatml')


def test_lcb_date_window(tmp_path):
  d = bf.lcb_dir(tmp_path)
  ids = lambda exs: sorted(e['question_id'] for e in exs)  # noqa: E731
  # LCB keeps start <= contest_date <= end, the bounds at midnight.
  assert ids(lcb.load_livecodebench(
      d, start_date='2024-08-01', end_date='2025-01-01')) == [
          '2041_C', '3600', 'abc365_b', 'abc386_c']
  assert ids(lcb.load_livecodebench(
      d, start_date=datetime.date(2024, 10, 12),
      end_date=datetime.datetime(2024, 12, 31))) == ['2041_C', '3600']
  # benchmarks.load applies R1's window unless told otherwise.
  assert ids(benchmarks.load('livecodebench', d)) == [
      '2041_C', '3600', 'abc365_b', 'abc386_c']
  assert len(benchmarks.load('livecodebench', d, start_date=None,
                             end_date=None)) == 6


def test_lcb_versions_pick_files(tmp_path):
  d = bf.lcb_dir(tmp_path)
  assert len(lcb.load_livecodebench(d, version='v5')) == 4
  assert len(lcb.load_livecodebench(d, version='v4_v5')) == 6
  with pytest.raises(FileNotFoundError, match=r"release_v5 needs \["
                     r"'test\.jsonl', 'test2\.jsonl', 'test3\.jsonl'\]"):
    lcb.load_livecodebench(d, version='release_v5')
  assert len(lcb.load_livecodebench([d / 'test5.jsonl'])) == 4
  with pytest.raises(ValueError, match='version picks files'):
    lcb.load_livecodebench(d / 'test5.jsonl', version='v5')


def test_lcb_refuses_pickled_code(tmp_path):
  """A private_test_cases payload that names a class or function (how a
  pickle runs code) is refused, naming the file and row; nothing runs."""
  marker = tmp_path / 'pwned'

  class Exploit:

    def __reduce__(self):
      return (os.makedirs, (str(marker),))

  payloads = [pickle.dumps(os.system), pickle.dumps(Exploit())]
  for payload in payloads:
    blob = base64.b64encode(zlib.compress(payload)).decode()
    p = bf.jsonl(tmp_path / 'test6.jsonl', [
        bf.lcb_row('abc400_a', '2025-04-05T00:00:00'),
        bf.lcb_row('abc400_b', '2025-04-05T00:00:00', private_test_cases=blob)])
    with pytest.raises(ValueError, match=(
        r"test6\.jsonl: row 2 \(question_id abc400_b\): private_test_cases: "
        r"refused to unpickle: the pickle references (posix|os|nt)\."
        r"(system|makedirs)")):
      lcb.load_livecodebench(p)
  assert not marker.exists()
  # A pickle of anything but the JSON string is refused too.
  blob = base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode()
  p = bf.jsonl(tmp_path / 'test6.jsonl', [
      bf.lcb_row('abc400_b', '2025-04-05T00:00:00', private_test_cases=blob)])
  with pytest.raises(ValueError, match='holds a list'):
    lcb.load_livecodebench(p)


def test_lcb_bad_rows_are_named(tmp_path):
  row = bf.lcb_row('abc401_a', '2025-04-12T00:00:00')
  del row['private_test_cases']
  p = bf.jsonl(tmp_path / 'test6.jsonl', [row])
  with pytest.raises(ValueError, match=r"test6\.jsonl: row 1 lacks "
                     r"column\(s\) \['private_test_cases'\]"):
    lcb.load_livecodebench(p)
  p = bf.jsonl(tmp_path / 'test6.jsonl', [bf.lcb_row(
      'abc401_a', '2025-04-12T00:00:00', private_test_cases='not base64 !')])
  with pytest.raises(ValueError, match=r'row 1 \(question_id abc401_a\): '
                     r'private_test_cases: neither JSON nor'):
    lcb.load_livecodebench(p)
  p = bf.jsonl(tmp_path / 'test6.jsonl', [bf.lcb_row(
      'abc401_a', '2025-04-12T00:00:00',
      private=[dict(input='1', output='1', testtype='interactive')])])
  with pytest.raises(ValueError, match="testtype 'interactive'"):
    lcb.load_livecodebench(p)
  p = bf.jsonl(tmp_path / 'test6.jsonl', [
      bf.lcb_row('abc401_a', '2025-04-12T00:00:00'),
      bf.lcb_row('abc401_a', '2025-04-12T00:00:00')])
  with pytest.raises(ValueError, match='duplicate ids'):
    lcb.load_livecodebench(p)


def test_lcb_restricted_unpickler_reads_every_protocol():
  tests = [dict(input='1', output='2', testtype='stdin')]
  for proto in range(pickle.HIGHEST_PROTOCOL + 1):
    blob = base64.b64encode(zlib.compress(
        pickle.dumps(json.dumps(tests), protocol=proto))).decode()
    assert lcb.decode_private_tests(blob) == tests
  assert lcb.decode_private_tests(json.dumps(tests)) == tests
