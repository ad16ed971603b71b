"""TFDS builder for the evaluation benchmarks, read from manual_dir.

The files cannot be downloaded by TFDS (GPQA is gated; the others are
mirrors in several formats). Place them as MANUAL_DOWNLOAD_INSTRUCTIONS says
under `<data_dir>/downloads/manual/` (or pass
`download_config=tfds.download.DownloadConfig(manual_dir=...)`), then:

  from r1jax.data.builders import benchmarks  # Registers the builder.
  ds = tfds.load('r1jax_benchmarks/math500', split='test', data_dir=...)

For GSM8K, TFDS's own `gsm8k` dataset downloads itself; the `gsm8k` config
here reads the same `test.jsonl` from manual_dir for offline machines.
Records hold the common fields; the rest (choices, solution, ...) is JSON
in `extra` (see `synthetic.from_record`).
"""
import glob
import os

import tensorflow_datasets as tfds

from r1jax.data import benchmarks as loaders
from r1jax.data.builders import synthetic

# config name -> (file stem under manual_dir/<name>/, split)
_FILES = dict(gsm8k=('test', 'test'), math500=('test', 'test'),
              aime2024=('train', 'test'),
              gpqa_diamond=('gpqa_diamond', 'test'))


class R1jaxBenchmarks(tfds.core.GeneratorBasedBuilder):
  """MATH-500, AIME 2024, GPQA Diamond and GSM8K from local files."""
  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n) for n in _FILES]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put one file per benchmark in manual_dir/<config>/ (.jsonl, .csv or
  .parquet):
    gsm8k/test.jsonl            openai/grade-school-math test.jsonl
    math500/test.jsonl          HuggingFaceH4/MATH-500 (or prm800k
                                math_splits/test.jsonl)
    aime2024/train.parquet      HuggingFaceH4/aime_2024, split train
    gpqa_diamond/gpqa_diamond.csv  Idavidrein/gpqa (gated), gpqa_diamond.csv
  """

  def _info(self):
    text = tfds.features.Text()
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(
            {k: text for k in synthetic.COMMON_FIELDS + ('extra',)}))

  def _split_generators(self, dl_manager):
    name = self.builder_config.name
    stem, split = _FILES[name]
    found = sorted(glob.glob(os.path.join(
        os.fspath(dl_manager.manual_dir), name, stem + '.*')))
    if not found:
      raise FileNotFoundError(
          f'{name}: no {stem}.jsonl/.csv/.parquet in '
          f'{dl_manager.manual_dir}/{name}/. '
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    return {split: self._generate_examples(found[0])}

  def _generate_examples(self, path):
    for i, ex in enumerate(loaders.load(self.builder_config.name, path)):
      ex.setdefault('lang', 'en')
      yield i, synthetic.to_record(ex)
