"""Benchmark TFDS builder reading files placed in manual_dir."""
import json

import pytest
import tensorflow_datasets as tfds

from r1jax.data.builders import benchmarks
from r1jax.data.builders import synthetic


def _prepare(tmp_path, name):
  builder = benchmarks.R1jaxBenchmarks(config=name, data_dir=tmp_path / 'd')
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(tmp_path / 'manual')))
  return builder


def test_math500_from_manual_dir(tmp_path):
  (tmp_path / 'manual' / 'math500').mkdir(parents=True)
  rows = [dict(problem=f'P{i}', solution='s', answer=f'{i}/2',
               subject='Algebra', level=i, unique_id=f'test/a/{i}.json')
          for i in range(1, 4)]
  (tmp_path / 'manual' / 'math500' / 'test.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in rows))
  builder = _prepare(tmp_path, 'math500')
  got = sorted((synthetic.from_record(r) for r in tfds.as_numpy(
      builder.as_dataset(split='test'))), key=lambda e: e['id'])
  assert [e['answer'] for e in got] == ['1/2', '2/2', '3/2']
  assert got[0]['answer_type'] == 'math' and got[0]['level'] == 1


def test_missing_file_explains_placement(tmp_path):
  (tmp_path / 'manual').mkdir()
  with pytest.raises(Exception, match='gpqa_diamond.csv'):
    _prepare(tmp_path, 'gpqa_diamond')
