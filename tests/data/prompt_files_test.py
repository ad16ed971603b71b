"""Prompt files in published layouts: open-r1/OpenR1-Math-220k's parquet
columns (problem, answer, uuid, plus list columns), JSONL with an `id`, a
row without an answer (majority-voted later), and errors naming the file,
row and config field."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1jax.data import prompt_files

# open-r1/OpenR1-Math-220k data/train-*.parquet columns (its README's
# dataset_info), a subset of rows' values shortened.
_OPENR1 = {
    "problem": ["Find $x$ if $2x+3=11$.", "Compute $\\binom{5}{2}$."],
    "solution": ["$x=4$", "$10$"],
    "answer": ["4", "10"],
    "problem_type": ["Algebra", "Combinatorics"],
    "question_type": ["math-word-problem", "math-word-problem"],
    "source": ["olympiads", "cn_contest"],
    "uuid": ["a1b2-0001", "a1b2-0002"],
    "is_reasoning_complete": [[True, True], [True, False]],
    "generations": [["<think>\n2x=8</think>\n\\boxed{4}", "..."],
                    ["<think>\n10</think>\n\\boxed{10}", "..."]],
    "correctness_math_verify": [[True, False], [True, False]],
    "correctness_llama": [None, None],
    "finish_reasons": [["stop", "length"], ["stop", "stop"]],
    "correctness_count": [1, 1],
}


def test_openr1_math_parquet(tmp_path):
  path = tmp_path / "train-00000-of-00010.parquet"
  pq.write_table(pa.table(_OPENR1), path)
  recs = prompt_files.load(str(path), prompt_field="problem",
                           id_field="uuid")
  assert [r["id"] for r in recs] == ["a1b2-0001", "a1b2-0002"]
  assert recs[0]["prompt"] == "Find $x$ if $2x+3=11$."
  assert recs[1]["answer"] == "10" and recs[1]["answer_type"] == "math"
  assert recs[0]["source"] == "olympiads"  # other columns kept
  assert "problem" not in recs[0] and "uuid" not in recs[0]


def test_jsonl_ids_and_missing_answers(tmp_path):
  path = tmp_path / "p.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in [
      {"prompt": "1 + 1?", "answer": 2},
      {"prompt": "Name a prime.", "answer": ""},
      {"prompt": "Name an even number."},
      {"prompt": "2 + 2?", "answer": "4", "id": "q4", "answer_type": "math"},
  ]))
  recs = prompt_files.load(str(path))
  assert [r["id"] for r in recs] == ["p.jsonl/0", "p.jsonl/1", "p.jsonl/2",
                                     "q4"]
  assert [r["answer"] for r in recs] == ["2", None, None, "4"]


@pytest.mark.parametrize("rows,kw,match", [
    ([{"question": "x"}], {}, r"row 1 has no text in 'prompt'.*"
     r"config.prompts.loader_kwargs.prompt_field"),
    ([{"prompt": "a", "id": 1}, {"prompt": "b", "id": 1}], {},
     "row 2: id '1' occurs twice"),
    ([{"prompt": "   "}], {}, "row 1 has no text"),
])
def test_errors_name_file_row_and_field(tmp_path, rows, kw, match):
  path = tmp_path / "bad.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  with pytest.raises(ValueError, match=match):
    prompt_files.load(str(path), where="config.prompts", **kw)
