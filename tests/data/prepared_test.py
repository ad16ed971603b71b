"""Prepared datasets: prepare (JSONL / Parquet, sft / chat / text), resume,
tokenizer identity, and streamed batches equal to the in-memory path."""
import collections
import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax import tokenizers as tok_lib
from r1jax.data import pipeline, prepared
from r1jax.data.prepared import _format as fmt
from r1jax.data.prepared import _prepare
from tests.trainers import util

_QWEN = os.path.join(os.path.dirname(__file__), "tokenizer_configs",
                     "Qwen--Qwen2.5-7B-Instruct.json")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """(directory, SentencePiece path, records): 61 sft records in JSONL."""
  d = str(tmp_path_factory.mktemp("prep"))
  tok = util.tokenizer(d)
  rng = np.random.default_rng(0)
  records = [{"prompt": f"{a} + {b} =", "completion": f" {a + b}" * int(k),
              "id": i} for i, (a, b, k) in enumerate(
                  rng.integers(1, 50, (61, 3)))]
  with open(os.path.join(d, "train.jsonl"), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)
  return d, tok, records


def _prepare_sft(d, tok, name="out", **kw):
  out = os.path.join(d, name)
  meta = prepared.prepare([os.path.join(d, "train.jsonl")], out, tok,
                          records_per_shard=8, **kw)
  return out, meta


def _docs(batch):
  """(tokens, loss mask) of every segment of a batch, as tuples."""
  out = []
  for tok, seg, mask in zip(batch["tokens"], batch["segment_ids"],
                            batch["loss_mask"]):
    for s in range(1, seg.max() + 1):
      out.append((tuple(tok[seg == s]), tuple(mask[seg == s])))
  return out


def test_streamed_batches_equal_the_in_memory_path(data):
  d, tok_path, records = data
  out, meta = _prepare_sft(d, tok_path)
  tok = tok_lib.load(tok_path)
  assert meta["num_shards"] == 8 and meta["records"] == 61
  examples = pipeline.encode_sft(records, tok)
  assert meta["tokens"] == sum(len(ids) for ids, _ in examples)
  for shuffle in (True, False):
    kw = dict(seq_len=32, batch_size=4, seed=5, shuffle=shuffle,
              pad_id=tok.pad_id)
    mem = pipeline.SftData(examples, **kw)
    streamed = prepared.open_data(out, tokenizer=tok, **kw)
    per = mem.num_batches_per_epoch
    assert streamed.num_batches_per_epoch == per and per >= 3
    for epoch in range(2):
      got = []
      for step in range(epoch * per, (epoch + 1) * per):
        a, b = mem.batch(step), streamed.batch(step)
        for k in pipeline.KEYS:  # identical for the same order
          np.testing.assert_array_equal(a[k], b[k], err_msg=f"{step} {k}")
        got += _docs(b)
      # Every example once per epoch: its tokens and (shifted) mask.
      want = [(tuple(ids[:32]), tuple(mask[1:32]) + (0,))
              for ids, mask in examples]
      assert collections.Counter(got) == collections.Counter(want)


def test_two_hosts_read_disjoint_shares_covering_each_example_once(data):
  d, tok_path, _ = data
  out, meta = _prepare_sft(d, tok_path)
  kw = dict(seq_len=32, batch_size=4, seed=1)
  whole = prepared.open_data(out, **kw)
  hosts = [prepared.open_data(out, **kw) for _ in range(2)]
  seen = [[], []]
  for h, src in enumerate(hosts):
    read = src.source.read
    src.source.read = lambda ids, h=h, read=read: (seen[h].extend(ids),
                                                   read(ids))[1]
  per = whole.num_batches_per_epoch
  for epoch in range(2):
    seen[0].clear(), seen[1].clear()
    for step in range(epoch * per, (epoch + 1) * per):
      parts = [hosts[h].host_batch(step, h, 2) for h in range(2)]
      full = whole.batch(step)
      for k in pipeline.KEYS:
        np.testing.assert_array_equal(
            np.concatenate([p[k] for p in parts]), full[k])
    assert not set(seen[0]) & set(seen[1]) and seen[0] and seen[1]
    assert sorted(seen[0] + seen[1]) == list(range(meta["examples"]))


def test_prepare_resumes_in_parallel_and_refuses_another_tokenizer(
    data, tmp_path, monkeypatch):
  d, tok_path, _ = data
  out, _ = _prepare_sft(d, tok_path, name="par", workers=2)
  ref, _ = _prepare_sft(d, tok_path, name="seq")
  for s in range(8):  # the layout does not depend on the workers
    for suffix in ("tokens", "mask", "offsets.npy", "json"):
      with open(fmt.shard_path(out, s, suffix), "rb") as a, \
           open(fmt.shard_path(ref, s, suffix), "rb") as b:
        assert a.read() == b.read(), (s, suffix)
  # An interrupted preparation: shard 3 unfinished, no counts yet.
  os.remove(fmt.shard_path(ref, 3, "json"))
  meta = fmt.read_metadata(ref)
  meta.pop("num_shards")
  fmt.write_json(os.path.join(ref, fmt.METADATA), meta)
  with pytest.raises(ValueError, match="preparation is not finished"):
    prepared.PreparedSource(ref)
  written = []
  real = fmt.write_shard
  monkeypatch.setattr(fmt, "write_shard",
                      lambda dd, s, *a: (written.append(s), real(dd, s, *a))[1])
  assert _prepare_sft(d, tok_path, name="seq")[1]["num_shards"] == 8
  assert written == [3]
  # Another tokenizer: refused, naming both.
  other = util.hf_tokenizer(str(tmp_path / "hf"))
  with pytest.raises(ValueError, match="tokenizer mismatch") as e:
    _prepare_sft(d, other.path, name="seq")
  assert tok_path in str(e.value) and other.path in str(e.value)
  with pytest.raises(ValueError, match="tokenizer mismatch") as e:
    prepared.open_data(ref, seq_len=32, batch_size=4, seed=0,
                       tokenizer=other)
  assert tok_path in str(e.value) and other.path in str(e.value)
  with pytest.raises(ValueError, match="records_per_shard: 8 -> 9"):
    prepared.prepare([os.path.join(d, "train.jsonl")], ref, tok_path,
                     records_per_shard=9)


def _chat_tokenizer(directory):
  tok = util.hf_tokenizer(directory)
  shutil.copy(_QWEN, os.path.join(directory, "tokenizer_config.json"))
  return tok.path


def test_prepare_reads_parquet_and_jsonl_layouts(data, tmp_path):
  d, tok_path, records = data
  # prompt / completion columns, with others beside them (not read).
  pq.write_table(pa.table({"prompt": [r["prompt"] for r in records],
                           "completion": [r["completion"] for r in records],
                           "extra": list(range(len(records)))}),
                 str(tmp_path / "sft.parquet"))
  out = prepared.prepare([str(tmp_path / "sft.parquet")],
                         str(tmp_path / "pq"), tok_path, records_per_shard=8)
  ref = _prepare_sft(d, tok_path)[1]
  assert out["tokens"] == ref["tokens"] and out["examples"] == 61
  # HF chat layout (open-r1/OpenR1-Math-220k): messages is a list of
  # struct<content: string, role: string>, beside problem / answer columns.
  chat_tok = _chat_tokenizer(str(tmp_path / "chat_tok"))
  convs = [[{"content": f"What is {i} + 1?", "role": "user"},
            {"content": f"<think> {i} + 1 </think> {i + 1}",
             "role": "assistant"}] for i in range(5)]
  struct = pa.list_(pa.struct([("content", pa.string()),
                               ("role", pa.string())]))
  pq.write_table(pa.table({"problem": ["q"] * 5, "answer": ["a"] * 5,
                           "messages": pa.array(convs, type=struct)}),
                 str(tmp_path / "chat.parquet"))
  with open(tmp_path / "chat.jsonl", "w") as f:
    f.writelines(json.dumps({"messages": c}) + "\n" for c in convs)
  tok = tok_lib.load(chat_tok)
  for src in ("chat.parquet", "chat.jsonl"):
    out = str(tmp_path / f"out_{src}")
    meta = prepared.prepare([str(tmp_path / src)], out, chat_tok,
                            kind="chat", records_per_shard=2)
    assert meta["num_shards"] == 3 and "<|im_start|>" in meta["template"]
    source = prepared.PreparedSource(out)
    for i, (ids, mask) in enumerate(source.read(range(5))):
      text = tok.decode(ids)
      assert text.startswith("<|im_start|>system\nYou are Qwen"), text
      assert tok.decode(ids[mask == 1]) == (
          f"<think> {i} + 1 </think> {i + 1}<|im_end|>\n")
      assert f"user\nWhat is {i} + 1?" in tok.decode(ids[mask == 0])
  # The model's tokenizer with another chat template: refused.
  other = str(tmp_path / "other_tok")
  shutil.copytree(str(tmp_path / "chat_tok"), other)
  with open(_QWEN) as f:
    config = json.load(f)
  config["chat_template"] += "{# edited #}"
  with open(os.path.join(other, "tokenizer_config.json"), "w") as f:
    json.dump(config, f)
  with pytest.raises(ValueError, match="another chat template"):
    prepared.open_data(out, seq_len=64, batch_size=1, seed=0,
                       tokenizer=tok_lib.load(other))
  prepared.open_data(out, seq_len=64, batch_size=1, seed=0, tokenizer=tok)
  # Plain text; and a record without the field names file and record.
  with open(tmp_path / "docs.jsonl", "w") as f:
    f.write('{"text": "1 + 2 = 3"}\n{"body": "x"}\n')
  with pytest.raises(ValueError, match=r"docs.jsonl: record 2 has no "
                     r"field\(s\) \['text'\]"):
    prepared.prepare([str(tmp_path / "docs.jsonl")], str(tmp_path / "t"),
                     tok_path, kind="text")
  bad = [[{"content": "hi", "role": "user"}]]
  with pytest.raises(ValueError, match="last message must be the assist"):
    _prepare.encode_chat([{"messages": bad[0]}], tok)


def test_machines_prepare_disjoint_shards_of_one_directory(data):
  """--process_index/--process_count: each machine writes only its shards;
  once all have run, the directory is the one-machine preparation."""
  d, tok_path, _ = data
  ref, ref_meta = _prepare_sft(d, tok_path, name="one")
  out = os.path.join(d, "two")
  first = prepared.prepare([os.path.join(d, "train.jsonl")], out, tok_path,
                           records_per_shard=8, process_index=1,
                           process_count=2)
  assert "num_shards" not in first  # machine 0's shards are missing
  assert [s for s in range(8) if fmt.shard_done(out, s)] == [1, 3, 5, 7]
  meta = prepared.prepare([os.path.join(d, "train.jsonl")], out, tok_path,
                          records_per_shard=8, process_index=0,
                          process_count=2)
  for k in ("num_shards", "records", "examples", "tokens"):
    assert meta[k] == ref_meta[k], k
  for s in range(8):
    for suffix in ("tokens", "mask", "offsets.npy"):
      with open(fmt.shard_path(out, s, suffix), "rb") as a, \
           open(fmt.shard_path(ref, s, suffix), "rb") as b:
        assert a.read() == b.read(), (s, suffix)
