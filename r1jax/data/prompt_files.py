"""Prompt files: the problems of rejection sampling or of an ad-hoc eval.

A JSONL, JSON, CSV or Parquet file (or a directory / list of them, as
`benchmarks.tables.resolve_files` reads), one problem per row, e.g.
open-r1/OpenR1-Math-220k's `data/*.parquet` (`problem`, `answer`, `uuid`)
or NuminaMath (`problem`, `solution`): the fields are named by the caller.
A row without an answer (missing, null or empty) gets `answer: None`: the
`generate` stage then scores its samples against their majority answer.
"""

from __future__ import annotations

import os
from typing import Any

from r1jax.data import tasks
from r1jax.data.benchmarks import tables


def load(path, *, prompt_field: str = "prompt", answer_field: str = "answer",
         id_field: str = "id", answer_type: str = "math",
         where: str = "file") -> list[dict[str, Any]]:
  """Records with `id`, `prompt`, `answer` (str or None), `answer_type`
  (the row's own, else `answer_type`), and the row's other fields. `id`:
  the row's `id_field` when it has one, else `<file name>/<row>`. Errors
  name `where` (the config field), the file and the row."""
  out, seen = [], set()
  for f in tables.resolve_files(path):
    for i, row in enumerate(tables.iter_table(f)):
      prompt = row.get(prompt_field)
      if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(
            f"{f}: row {i + 1} has no text in {prompt_field!r} (fields: "
            f"{sorted(row)}); set {where}.loader_kwargs.prompt_field")
      answer = row.get(answer_field)
      answer = None if answer is None or str(answer).strip() == "" \
          else str(answer)
      rid = row.get(id_field)
      rid = f"{os.path.basename(f)}/{i}" if rid in (None, "") else str(rid)
      if rid in seen:
        raise ValueError(f"{f}: row {i + 1}: id {rid!r} occurs twice "
                         f"({where}.loader_kwargs.id_field={id_field!r})")
      seen.add(rid)
      rec = {k: v for k, v in row.items()
             if k not in (prompt_field, answer_field, id_field)}
      rec.update(id=rid, prompt=prompt, answer=answer,
                 answer_type=row.get("answer_type") or answer_type)
      if not tasks.is_task(rec.get("task")):
        rec.pop("task", None)
      out.append(rec)
  if not out:
    raise ValueError(f"{where}.file={path!r}: no rows")
  return out
