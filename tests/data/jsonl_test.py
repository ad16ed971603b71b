"""JSONL readers and writers."""
import pytest

from r1jax.data import jsonl


def test_round_trip_sft_and_rl(tmp_path):
  sft = tmp_path / 'sft.jsonl'
  n = jsonl.write_jsonl(sft, [dict(prompt='p1', completion='c1'),
                              dict(prompt='ü', completion='中文')])
  assert n == 2
  assert jsonl.load_sft(sft)[1] == dict(prompt='ü', completion='中文')
  rl = tmp_path / 'rl.jsonl'
  rl.write_text('{"prompt": "1+1", "answer": "2", "lang": "en"}\n\n'
                '{"prompt": "2+2", "answer": "4", "id": "x"}\n')
  records = jsonl.load_rl(rl)
  assert [r['id'] for r in records] == ['rl.jsonl/0', 'x']
  assert records[0]['lang'] == 'en'


def test_errors_name_file_and_line(tmp_path):
  bad = tmp_path / 'bad.jsonl'
  bad.write_text('{"prompt": "a", "completion": "b"}\n{oops\n')
  with pytest.raises(ValueError, match='bad.jsonl:2'):
    jsonl.load_sft(bad)
  missing = tmp_path / 'missing.jsonl'
  missing.write_text('{"prompt": "a"}\n')
  with pytest.raises(ValueError, match='answer'):
    jsonl.load_rl(missing)
