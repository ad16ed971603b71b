"""Rejection sampling on the host: filter sampled completions, keep at
most m per prompt, and report what was kept (R1 stage 3: correct answers
only; no mixed languages, long paragraphs or code blocks in the CoT).

  out, counts = chain.apply(samples, config.filters, config.filter_options,
                            think_opened=prompter.think_opened,
                            extra={"decontaminate": {"index": index}})
  out = chain.select(out, config.max_per_prompt, config.select_by, seed)
  counts = chain.add_selection(counts, out)
  rep = report.filter_report(out, counts, config.num_samples)
"""
from r1jax.rejection import chain
from r1jax.rejection import filters
from r1jax.rejection import judge_filter  # registers the `judge` filter
from r1jax.rejection import readable  # registers `readable`, `readable_layout`
from r1jax.rejection import report
from r1jax.rejection import translate  # registers `translate`
from r1jax.rejection.chain import add_selection
from r1jax.rejection.chain import apply
from r1jax.rejection.chain import default_options
from r1jax.rejection.chain import select
from r1jax.rejection.chain import validate
from r1jax.rejection.filters import NgramIndex
from r1jax.rejection.filters import ngram_index
from r1jax.rejection.filters import register
from r1jax.rejection.report import filter_report
from r1jax.rejection.report import markdown
