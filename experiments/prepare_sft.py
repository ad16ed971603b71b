r"""Tokenize SFT data once into a sharded, prepared dataset for the sft stage.

  python experiments/prepare_sft.py --input=traces.jsonl --out=/data/sft \
      --tokenizer=/ckpt/Qwen2.5-1.5B --workers=8
  python -m r1jax.main --config=configs/sft.py --workdir=/tmp/sft \
      --config.data.prepared_dir=/data/sft --config.init_from=/ckpt/Qwen2.5-1.5B

Inputs are JSONL or Parquet files (a Hub dataset's data/*.parquet), one kind:
  sft   {prompt, completion} records: loss on the completion (+EOS)
  chat  a `messages` list of {role, content} (HF chat datasets, e.g.
        open-r1/OpenR1-Math-220k): rendered with the tokenizer's chat
        template, loss on the last (assistant) message
  text  plain documents: loss on every token
Writes token ids and loss masks in shards of --records_per_shard records,
with metadata.json (tokenizer sha256, vocab, bos/eos ids, template, fields,
counts) and a copy of the tokenizer. Rerunning resumes (finished shards are
skipped); a directory prepared with another tokenizer or other settings is
refused. On several machines, run it with --process_index=i
--process_count=n on each (same arguments otherwise).
"""

import argparse
import os
import sys

from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from r1jax.data import prepared  # pylint: disable=wrong-import-position


def main(argv=None):
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--input", nargs="+", required=True,
                  help="JSONL / .parquet files, read in this order")
  ap.add_argument("--out", required=True, help="output directory")
  ap.add_argument("--tokenizer", required=True,
                  help="tokenizer.json, SentencePiece .model or model dir")
  ap.add_argument("--kind", choices=prepared.KINDS, default="sft",
                  help="record layout (default: %(default)s)")
  ap.add_argument("--prompt_field", default="prompt",
                  help="kind=sft (default: %(default)s)")
  ap.add_argument("--completion_field", default="completion",
                  help="kind=sft (default: %(default)s)")
  ap.add_argument("--messages_field", default="messages",
                  help="kind=chat (default: %(default)s)")
  ap.add_argument("--text_field", default="text",
                  help="kind=text (default: %(default)s)")
  ap.add_argument("--records_per_shard", type=int, default=10000,
                  help="records per shard file (default: %(default)s)")
  ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                  help="tokenizer processes (default: the CPU count, "
                  "%(default)s)")
  ap.add_argument("--process_index", type=int, default=0,
                  help="this machine's index (default: %(default)s)")
  ap.add_argument("--process_count", type=int, default=1,
                  help="machines preparing together (default: %(default)s)")
  ap.add_argument("--no_eos", action="store_true",
                  help="kinds sft/text: do not append EOS")
  args = ap.parse_args(argv)
  fields = {"sft": {"prompt": args.prompt_field,
                    "completion": args.completion_field},
            "chat": {"messages": args.messages_field},
            "text": {"text": args.text_field}}[args.kind]
  logging.set_verbosity(logging.INFO)
  meta = prepared.prepare(
      args.input, args.out, args.tokenizer, kind=args.kind, fields=fields,
      records_per_shard=args.records_per_shard, workers=args.workers,
      process_index=args.process_index, process_count=args.process_count,
      add_eos=not args.no_eos)
  print({k: meta.get(k) for k in ("num_shards", "records", "examples",
                                  "tokens")})


if __name__ == "__main__":
  main()
