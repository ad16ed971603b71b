"""An ordered chain of rejection-sampling filters, and per-prompt selection.

Config layout (read by the generate stage):
  config.filters = ("correct", "summary", ...)      order matters
  config.filter_options.<name>.<opt>                 e.g. --config.
                                                     filter_options.
                                                     language.min_fraction=0.9
`apply` annotates each sample with `"text"` (what goes to SFT) and
`"rejected_by"` (None, or the first filter that rejected it); each filter
sees only the samples still kept. `select` then keeps at most m kept
samples per problem. Counts always add up:
  counts["kept"] + sum(counts["rejected"].values()) == counts["total"].
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping, Sequence

import numpy as np

from r1jax.rejection import filters

SELECTED_OUT = "max_per_prompt"


def _is_int(v: Any) -> bool:
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _plain(opts: Any) -> dict[str, Any]:
  if opts is None:
    return {}
  return opts.to_dict() if hasattr(opts, "to_dict") else dict(opts)


def default_options() -> dict[str, dict[str, Any]]:
  """Every registered filter's config options with their defaults (from
  the signatures: a config built from this has no second defaults)."""
  return {name: filters.default_options(name) for name in filters.names()}


def _check_names(names: Sequence[str]) -> list[str]:
  if isinstance(names, str):
    raise ValueError(f"config.filters={names!r}: a sequence of filter "
                     f"names, e.g. ('correct', 'summary'); registered: "
                     f"{filters.names()}")
  names = list(names)
  for name in names:
    filters.get(name)  # Raises naming config.filters.
  for name in set(names):
    if names.count(name) > 1:
      raise ValueError(f"config.filters: {name!r} listed twice")
  if SELECTED_OUT in names:
    raise ValueError(f"config.filters: {SELECTED_OUT!r} is reserved for "
                     "the per-prompt selection")
  return names


def _config_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
  """Filter `name`'s options from config, with their names checked."""
  opts = _plain(options.get(name))
  allowed = filters.default_options(name)
  for opt in opts:
    if opt == "think_opened":
      raise ValueError(
          f"config.filter_options.{name}.{opt}: not a config option; it "
          "follows config.template (whether the prompt opens <think>)")
    if opt in filters.get(name).runtime:
      raise ValueError(
          f"config.filter_options.{name}.{opt}: not a config option; the "
          f"stage passes it (chain.apply's extra[{name!r}])")
    if opt not in allowed:
      raise ValueError(f"config.filter_options.{name}.{opt}: unknown "
                       f"option; allowed: {sorted(allowed)}")
  return opts


def validate(names: Sequence[str], options: Mapping[str, Any]) -> None:
  """Checks filter names, option names and option values; no samples
  needed. Fails with a ValueError naming the config field."""
  names = _check_names(names)
  options = {} if options is None else options
  for name in options.keys():
    if name not in filters.names():
      raise ValueError(f"config.filter_options.{name}: unknown filter; "
                       f"registered: {filters.names()}")
  for name in filters.names():
    opts = _config_options(name, options)
    if "think_opened" in filters.parameters(name):
      opts["think_opened"] = False
    # Filters check their values before looking at samples.
    filters.get(name).fn([], **opts)


def _call_options(name: str, options: Mapping[str, Any], think_opened: bool,
                  extra: Mapping[str, Any]) -> dict[str, Any]:
  """Config options + think_opened (if taken) + runtime options."""
  spec = filters.get(name)
  opts = _config_options(name, options)
  if "think_opened" in filters.parameters(name):
    opts["think_opened"] = bool(think_opened)
  runtime = _plain(extra.get(name))
  for opt in runtime:
    if opt not in spec.runtime:
      raise ValueError(f"extra[{name!r}][{opt!r}]: not a runtime option of "
                       f"filter {name!r}; runtime: {list(spec.runtime)}")
  for opt in spec.runtime:
    if opt not in runtime:
      raise ValueError(f"config.filter_options.{name}: needs {opt!r}, which "
                       f"the stage passes as extra[{name!r}][{opt!r}]")
  opts.update(runtime)
  return opts


def apply(samples: Sequence[Mapping[str, Any]], names: Sequence[str],
          options: Mapping[str, Any], *, think_opened: bool,
          extra: Mapping[str, Mapping[str, Any]] | None = None,
          ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
  """Runs the filters `names` in order over `samples` (not mutated).

  Returns new sample dicts with `"text"` and `"rejected_by"` added, and
  counts: {"total", "kept", "rejected": {name: n} for every filter in
  order (0 included; transforms reject none), "transformed": {name: texts
  changed} for the transforms}. `extra` holds runtime options, e.g.
  {"decontaminate": {"index": filters.ngram_index(texts, 8)}}.
  """
  validate(names, options)
  names = list(names)
  options = {} if options is None else options
  extra = {} if extra is None else extra
  for name in extra:
    if name not in filters.names():
      raise ValueError(f"extra[{name!r}]: unknown filter; registered: "
                       f"{filters.names()}")
  calls = {n: _call_options(n, options, think_opened, extra) for n in names}
  out = [dict(s, text=s["completion"], rejected_by=None) for s in samples]
  alive = list(range(len(out)))
  counts = {"total": len(out), "kept": 0, "rejected": {}, "transformed": {}}
  for name in names:
    spec = filters.get(name)
    result = spec.fn([out[i] for i in alive], **calls[name])
    if len(result) != len(alive):
      raise RuntimeError(f"filter {name!r} returned {len(result)} values "
                         f"for {len(alive)} samples")
    counts["rejected"][name] = 0
    if spec.transform:
      changed = 0
      for i, text in zip(alive, result):
        changed += text != out[i]["text"]
        out[i]["text"] = text
      counts["transformed"][name] = changed
      continue
    keep = np.asarray(result, bool)
    for i in (i for i, k in zip(alive, keep) if not k):
      out[i]["rejected_by"] = name
    counts["rejected"][name] = int((~keep).sum())
    alive = [i for i, k in zip(alive, keep) if k]
  counts["kept"] = len(alive)
  return out, counts


def _order_key(sample: Mapping[str, Any]) -> tuple[Any, ...]:
  return (int(sample.get("sample", 0)), str(sample["text"]))


def _random_ranks(problem_id: str, n: int, seed: int) -> np.ndarray:
  """A permutation of range(n) fixed by (seed, problem id) alone."""
  rng = np.random.default_rng([seed, zlib.crc32(problem_id.encode())])
  return rng.permutation(n)


def select(samples: Sequence[Mapping[str, Any]], max_per_prompt: int,
           by: str = "random", seed: int = 0) -> list[dict[str, Any]]:
  """Keeps at most `max_per_prompt` kept samples per problem id (0: all).

  `by="random"`: a random choice fixed by (seed, id), not by the order of
  `samples` or the number of processes; `by=<reward name>`: the highest
  `sample["rewards"][by]` (NaN lowest), ties in that random order. The
  others get rejected_by="max_per_prompt". Returns new dicts, in input
  order; `add_selection` updates the counts.
  """
  if not _is_int(max_per_prompt) or max_per_prompt < 0:
    raise ValueError(f"config.max_per_prompt={max_per_prompt!r}: an int "
                     ">= 0 (0: no cap)")
  if not _is_int(seed) or seed < 0:
    raise ValueError(f"config.seed={seed!r}: an int >= 0")
  out = [dict(s) for s in samples]
  kept = [i for i, s in enumerate(out) if s["rejected_by"] is None]
  if by != "random":
    missing = [i for i in kept if by not in (out[i].get("rewards") or {})]
    if missing:
      have = sorted(out[missing[0]].get("rewards") or {})
      raise ValueError(f"config.select_by={by!r}: not a reward of every "
                       f"sample; allowed: 'random' or a reward, {have}")
  if not max_per_prompt:
    return out
  groups: dict[str, list[int]] = {}
  for i in kept:
    groups.setdefault(str(out[i]["id"]), []).append(i)
  for pid, rows in groups.items():
    rows = sorted(rows, key=lambda i: _order_key(out[i]))
    rank = _random_ranks(pid, len(rows), seed)
    if by == "random":
      order = sorted(range(len(rows)), key=lambda j: rank[j])
    else:
      value = [float(out[i]["rewards"][by]) for i in rows]
      value = [-np.inf if np.isnan(v) else v for v in value]
      order = sorted(range(len(rows)), key=lambda j: (-value[j], rank[j]))
    for j in order[max_per_prompt:]:
      out[rows[j]]["rejected_by"] = SELECTED_OUT
  return out


def add_selection(counts: Mapping[str, Any],
                  samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """`apply`'s counts updated for `select`'s result `samples`: a
  "max_per_prompt" entry last in "rejected", and "kept"."""
  dropped = sum(s["rejected_by"] == SELECTED_OUT for s in samples)
  rejected = {k: v for k, v in counts["rejected"].items()
              if k != SELECTED_OUT}
  rejected[SELECTED_OUT] = int(dropped)
  kept = sum(s["rejected_by"] is None for s in samples)
  if kept + sum(rejected.values()) != counts["total"]:
    raise ValueError(f"counts do not add up: {kept} kept + {rejected} "
                     f"rejected != {counts['total']} samples (were the "
                     "counts made for these samples?)")
  return dict(counts, rejected=rejected, kept=int(kept))
