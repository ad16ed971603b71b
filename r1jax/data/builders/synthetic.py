"""TFDS builder for the synthetic tasks, generated locally (no download).

  import tensorflow_datasets as tfds
  from r1jax.data.builders import synthetic  # Registers the builder.
  ds = tfds.load('r1jax_synthetic/countdown', split='train', data_dir=...)

Splits: `train` (seed 0) and `test` (seed 1) streams of the task with its
default knobs. Each record holds the common example fields; task-specific
fields (e.g. countdown's numbers and target) are JSON in `extra`.
"""
import json

import tensorflow_datasets as tfds

from r1jax.data import tasks

COMMON_FIELDS = ('id', 'prompt', 'answer', 'task', 'lang')


def to_record(example: dict) -> dict:
  """A task example as a TFDS record (extra fields as JSON)."""
  extra = {k: v for k, v in example.items() if k not in COMMON_FIELDS}
  return dict({k: example[k] for k in COMMON_FIELDS},
              extra=json.dumps(extra, sort_keys=True))


def from_record(record: dict) -> dict:
  """Inverse of `to_record` for a record decoded to Python (bytes ok)."""
  def text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else str(v)
  example = {k: text(record[k]) for k in COMMON_FIELDS}
  example.update(json.loads(text(record['extra'])))
  return example


class SyntheticConfig(tfds.core.BuilderConfig):
  """One task with split sizes; a custom size needs its own `name`."""

  def __init__(self, *, task: str, name: str | None = None,
               train_size: int = 20000, test_size: int = 500, **kwargs):
    super().__init__(name=name or task, **kwargs)
    self.task, self.train_size, self.test_size = task, train_size, test_size


class R1jaxSynthetic(tfds.core.GeneratorBasedBuilder):
  """Synthetic verifiable tasks of r1jax."""
  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [SyntheticConfig(task=t) for t in tasks.names()]

  def _info(self):
    text = tfds.features.Text()
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(
            {k: text for k in COMMON_FIELDS + ('extra',)}),
        supervised_keys=None)

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    cfg = self.builder_config
    return {'train': self._generate_examples(0, cfg.train_size),
            'test': self._generate_examples(1, cfg.test_size)}

  def _generate_examples(self, seed, size):
    task = tasks.get(self.builder_config.task)
    for i in range(size):
      ex = task.generate(seed, i)
      yield ex['id'], to_record(ex)
