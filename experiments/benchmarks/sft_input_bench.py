r"""SFT input pipeline: prepare once + stream vs tokenize in memory.

  python experiments/benchmarks/sft_input_bench.py [--tokens=20000000]

Writes synthetic {prompt, completion} JSONL of about --tokens tokens and
--scale times that, tokenized with a SentencePiece model trained here like
the demo's (BPE, vocab --vocab). For each size it reports:
  prepare    tokens/s of experiments/prepare_sft.py's `prepare` (--workers)
  in-memory  the sft stage's small-file path (read the JSONL, encode_sft,
             SftData, then --batches packed batches): start-up seconds,
             packed tokens/s, peak RSS
  streaming  `prepared.open_data` on the prepared directory, then the same
             batches: start-up seconds, packed tokens/s, peak RSS
Each in-memory / streaming measurement runs in its own subprocess, so its
peak RSS (resource.getrusage ru_maxrss) is its own. Packed tokens/s counts
real tokens (not padding) per second of `SftData.batch`, one thread.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from r1jax import tokenizers as tok_lib
from r1jax.data import jsonl, pipeline, prepared


def _words(n: int, rng) -> np.ndarray:
  letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
  return np.array(["".join(rng.choice(letters, rng.integers(2, 8)))
                   for _ in range(n)])


def write_data(path: str, tokens: int, tok, words, seed: int) -> int:
  """Writes records until about `tokens` tokens; returns the record count."""
  rng = np.random.default_rng(seed)

  def record():
    p = " ".join(words[rng.integers(0, len(words), rng.integers(10, 60))])
    c = " ".join(words[rng.integers(0, len(words), rng.integers(50, 400))])
    return {"prompt": "Question: " + p, "completion": " Answer: " + c}

  sample = [record() for _ in range(500)]
  per = np.mean([len(ids) for ids, _ in pipeline.encode_sft(sample, tok)])
  n = int(1.06 * tokens / per) + 1  # a margin: at least `tokens`
  jsonl.write_jsonl(path, (record() for _ in range(n)))
  return n


def _measure(kind: str, path: str, args) -> dict:
  """Runs in a subprocess: start-up, packed tokens/s, peak RSS."""
  t0 = time.perf_counter()
  kw = dict(seq_len=args.seq_len, batch_size=args.batch_size, seed=0)
  if kind == "memory":
    tok = tok_lib.load(args.tokenizer)
    records = list(jsonl.read_jsonl(path))
    data = pipeline.SftData(pipeline.encode_sft(records, tok), **kw)
    del records
  else:
    data = prepared.open_data(path, **kw)
  startup = time.perf_counter() - t0
  t0, real = time.perf_counter(), 0
  for step in range(args.batches):
    real += int((data.batch(step)["segment_ids"] > 0).sum())
  dt = time.perf_counter() - t0
  return {"startup_s": startup, "tokens_per_s": real / dt,
          "peak_rss_mb": resource.getrusage(
              resource.RUSAGE_SELF).ru_maxrss / 1024,
          "examples": data.num_examples, "tokens": data.num_tokens}


def _subprocess(kind: str, path: str, args) -> dict:
  cmd = [sys.executable, os.path.abspath(__file__), f"--_measure={kind}",
         f"--_path={path}", f"--tokenizer={args.tokenizer}",
         f"--seq_len={args.seq_len}", f"--batch_size={args.batch_size}",
         f"--batches={args.batches}"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                       env=env)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--tokens", type=int, default=20_000_000,
                  help="tokens of the smaller dataset (default: %(default)s)")
  ap.add_argument("--scale", type=int, default=4,
                  help="the larger dataset is this many times bigger "
                  "(default: %(default)s)")
  ap.add_argument("--vocab", type=int, default=768,
                  help="SentencePiece vocabulary (default: %(default)s)")
  ap.add_argument("--workers", type=int, default=2,
                  help="prepare's tokenizer processes (default: %(default)s)")
  ap.add_argument("--seq_len", type=int, default=4096,
                  help="packed row length (default: %(default)s)")
  ap.add_argument("--batch_size", type=int, default=16,
                  help="rows per batch (default: %(default)s)")
  ap.add_argument("--batches", type=int, default=300,
                  help="batches streamed per measurement (default: "
                  "%(default)s)")
  ap.add_argument("--workdir", default="",
                  help="where data goes (default: a temporary directory)")
  ap.add_argument("--tokenizer", default="", help=argparse.SUPPRESS)
  ap.add_argument("--_measure", default="", help=argparse.SUPPRESS)
  ap.add_argument("--_path", default="", help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args._measure:  # pylint: disable=protected-access
    print(json.dumps(_measure(args._measure, args._path, args)))  # pylint: disable=protected-access
    return
  work = args.workdir or tempfile.mkdtemp(prefix="sft_input_bench_")
  rng = np.random.default_rng(0)
  words = _words(3000, rng)
  texts = [" ".join(words[rng.integers(0, len(words), 200)])
           for _ in range(2000)]
  tok = tok_lib.train_sentencepiece(texts, os.path.join(work, "sp"),
                                    vocab_size=args.vocab)
  args.tokenizer = tok.path
  rows = []
  for i, tokens in enumerate((args.tokens, args.tokens * args.scale)):
    path = os.path.join(work, f"data{i}.jsonl")
    records = write_data(path, tokens, tok, words, seed=i)
    out = os.path.join(work, f"prepared{i}")
    t0 = time.perf_counter()
    meta = prepared.prepare([path], out, tok.path, workers=args.workers,
                            records_per_shard=2000)
    prep_s = time.perf_counter() - t0
    mem = _subprocess("memory", path, args)
    stream = _subprocess("stream", out, args)
    rows.append((meta["tokens"], records, meta["tokens"] / prep_s, mem,
                 stream))
    print(f"size {i}: {meta['tokens'] / 1e6:.1f}M tokens, {records} records,"
          f" {meta['num_shards']} shards; prepare {prep_s:.1f}s", flush=True)
  print(f"\nseq_len {args.seq_len}, batch {args.batch_size}, {args.batches} "
        f"batches; prepare on {args.workers} processes\n")
  print("| tokens | prepare tok/s | in-memory start-up s | in-memory tok/s | "
        "in-memory peak RSS MB | streaming start-up s | streaming tok/s | "
        "streaming peak RSS MB |")
  print("|---|---|---|---|---|---|---|---|")
  for tokens, _, prep, mem, st in rows:
    print(f"| {tokens / 1e6:.1f}M | {prep / 1e6:.2f}M | "
          f"{mem['startup_s']:.2f} | {mem['tokens_per_s'] / 1e6:.1f}M | "
          f"{mem['peak_rss_mb']:.0f} | {st['startup_s']:.2f} | "
          f"{st['tokens_per_s'] / 1e6:.1f}M | {st['peak_rss_mb']:.0f} |")
  growth = rows[1][4]["peak_rss_mb"] / rows[0][4]["peak_rss_mb"] - 1
  print(f"\nstreaming_rss_growth={growth:+.1%}")


if __name__ == "__main__":
  main()
