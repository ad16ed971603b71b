"""Prepared SFT data: tokenize once into shards, stream packed batches.

  python experiments/prepare_sft.py --input=traces.jsonl --out=/data/sft \
      --tokenizer=/ckpt/Qwen2.5-1.5B
  python -m r1jax.main --config=configs/sft.py --workdir=/tmp/sft \
      --config.data.prepared_dir=/data/sft --config.init_from=/ckpt/...
"""
from r1jax.data.prepared._format import (check_tokenizer, read_metadata,
                                         tokenizer_identity)
from r1jax.data.prepared._prepare import KINDS, encode_chat, prepare
from r1jax.data.prepared._stream import Prefetcher, PreparedSource, open_data

__all__ = ['KINDS', 'Prefetcher', 'PreparedSource', 'check_tokenizer',
           'encode_chat', 'open_data', 'prepare', 'read_metadata',
           'tokenizer_identity']
