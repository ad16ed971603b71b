"""The chain's counts, order, selection and config errors."""
import copy
import random

import ml_collections
import pytest

from r1jax.rejection import chain
from r1jax.rejection import filters
from tests.rejection.filters_test import CLEAN
from tests.rejection.filters_test import CLEAN_COT
from tests.rejection.filters_test import record
from tests.rejection.filters_test import ZH_MIXED

ALL = ('trim_after_answer', 'correct', 'summary', 'length', 'code_block',
       'long_paragraph', 'repetition', 'language', 'dedupe', 'decontaminate')
BENCH = ['Let $x$ and $y$ be real numbers such that $x + y = 10$ and '
         '$xy = 21$. Find the value of $x^2 + y^2$.']
EXTRA = {'decontaminate': {'index': filters.ngram_index(BENCH, 8)}}


def mixed_batch(n_problems=12, k=5, seed=0):
  """Random records, each with zero or more filter targets."""
  rng = random.Random(seed)
  completions = [
      CLEAN, CLEAN_COT, CLEAN_COT + '</think>',
      ZH_MIXED + '</think> 36', 'Try:\n```\nx = 1\n```\n</think> 36',
      ' '.join(['word'] * 400) + '</think> 36',
      'again and again ' * 50 + '</think> 36',
      CLEAN + '\nHope this helps!']
  prompts = ['What is (7 + 5) * 3?', 'Solve: ' + BENCH[0]]
  out = []
  for p in range(n_problems):
    for s in range(k):
      out.append(record(
          rng.choice(completions), pid=f'p{p}', problem=p, sample=s,
          prompt=rng.choice(prompts), correct=rng.random() < 0.7,
          length=rng.randint(50, 150), truncated=rng.random() < 0.1,
          rewards={'accuracy': rng.random()}))
  return out


def test_counts_add_up_and_input_is_not_mutated():
  samples = mixed_batch()
  before = copy.deepcopy(samples)
  out, counts = chain.apply(samples, ALL, {}, think_opened=True,
                            extra=EXTRA)
  assert samples == before
  assert counts['total'] == len(samples) == len(out)
  assert list(counts['rejected']) == list(ALL)
  assert counts['kept'] + sum(counts['rejected'].values()) == len(samples)
  for name in ALL:
    assert counts['rejected'][name] == sum(
        s['rejected_by'] == name for s in out)
  # The batch hits most filters, so the test can fail.
  assert sum(n > 0 for n in counts['rejected'].values()) >= 7
  assert counts['kept'] > 0 and counts['transformed']['trim_after_answer']


def test_order_matters():
  wrong_code = record('```\nx = 1\n```\n</think> 36', correct=False)
  _, counts = chain.apply([wrong_code, record()], ['correct', 'code_block'],
                          {}, think_opened=True)
  assert counts['rejected'] == {'correct': 1, 'code_block': 0}
  _, counts = chain.apply([wrong_code, record()], ['code_block', 'correct'],
                          {}, think_opened=True)
  assert counts['rejected'] == {'code_block': 1, 'correct': 0}


def test_later_filters_see_only_survivors():
  # The first copy is wrong: the second is no duplicate of a kept one.
  samples = [record(correct=False), record()]
  out, _ = chain.apply(samples, ['correct', 'dedupe'], {},
                       think_opened=True)
  assert [s['rejected_by'] for s in out] == ['correct', None]
  out, _ = chain.apply(samples, ['dedupe', 'correct'], {},
                       think_opened=True)
  assert [s['rejected_by'] for s in out] == ['correct', 'dedupe']


def test_trim_then_dedupe_sees_the_trimmed_text():
  samples = [record(CLEAN + '\nHope this helps!'), record(CLEAN + '\nBye.')]
  out, counts = chain.apply(samples, ['trim_after_answer', 'dedupe'], {},
                            think_opened=True)
  assert [s['text'] for s in out] == [CLEAN, CLEAN]
  assert counts['rejected'] == {'trim_after_answer': 0, 'dedupe': 1}


def select_batch():
  """3 problems x 6 kept samples with distinct accuracy rewards."""
  out, _ = chain.apply(
      [record(f'{CLEAN} {p} {s}', pid=f'p{p}', problem=p, sample=s,
              rewards={'accuracy': float((s * 7 + p) % 6)})
       for p in range(3) for s in range(6)], [], {}, think_opened=True)
  return out


def _kept(samples):
  return sorted((s['id'], s['sample']) for s in samples
                if s['rejected_by'] is None)


def test_select_best_by_reward():
  out = chain.select(select_batch(), 2, by='accuracy')
  for p in range(3):
    values = sorted(s['rewards']['accuracy'] for s in out
                    if s['id'] == f'p{p}' and s['rejected_by'] is None)
    assert values == [4.0, 5.0]
  assert sum(s['rejected_by'] == 'max_per_prompt' for s in out) == 12


@pytest.mark.parametrize('by', ['random', 'accuracy'])
def test_select_is_deterministic_and_order_independent(by):
  samples = select_batch()
  for s in samples:  # All tied: the seeded order decides.
    s['rewards'] = {'accuracy': 1.0}
  want = _kept(chain.select(samples, 2, by=by, seed=3))
  assert len(want) == 6
  shuffled = samples[:]
  random.Random(0).shuffle(shuffled)
  assert _kept(chain.select(shuffled, 2, by=by, seed=3)) == want
  seeds = {tuple(_kept(chain.select(samples, 2, by=by, seed=s)))
           for s in range(5)}
  assert len(seeds) > 1


def test_select_skips_rejected_and_counts_add_up():
  samples = mixed_batch()
  out, counts = chain.apply(samples, ALL, {}, think_opened=True,
                            extra=EXTRA)
  selected = chain.select(out, 1)
  for s, t in zip(out, selected):
    if s['rejected_by'] is not None:
      assert t['rejected_by'] == s['rejected_by']
  ids = [s['id'] for s in selected if s['rejected_by'] is None]
  assert len(ids) == len(set(ids))
  new = chain.add_selection(counts, selected)
  assert list(new['rejected'])[-1] == 'max_per_prompt'
  assert new['kept'] + sum(new['rejected'].values()) == new['total']
  assert new['kept'] == len(ids)
  assert chain.select(out, 0) == out


def test_select_errors_name_the_field():
  with pytest.raises(ValueError, match=r'config\.select_by=.nope.*accuracy'):
    chain.select(select_batch(), 2, by='nope')
  with pytest.raises(ValueError, match=r'config\.max_per_prompt'):
    chain.select(select_batch(), -1)


@pytest.mark.parametrize('names,options,field', [
    (['correct', 'nope'], {}, r'config\.filters: unknown filter .nope.'),
    ('correct', {}, r'config\.filters='),
    (['correct', 'correct'], {}, r'config\.filters: .correct. listed twice'),
    (['language'], {'language': {'min_fracton': 0.9}},
     r'config\.filter_options\.language\.min_fracton: unknown option; '
     r'allowed: .*min_fraction'),
    (['language'], {'language': {'min_fraction': 2.0}},
     r'config\.filter_options\.language\.min_fraction=2\.0'),
    ([], {'length': {'max_z': -1.0}}, r'config\.filter_options\.length\.max_z'),
    (['dedupe'], {'dedupe': {'threshold': 0}},
     r'config\.filter_options\.dedupe\.threshold'),
    (['summary'], {'summary': {'think_opened': True}},
     r'config\.filter_options\.summary\.think_opened: not a config option'),
    (['decontaminate'], {'decontaminate': {'index': None}},
     r'config\.filter_options\.decontaminate\.index: not a config option'),
    (['decontaminate'], {'decontaminate': {'fields': 'prompt'}},
     r'config\.filter_options\.decontaminate\.fields'),
    (['code_block'], {'code_block': {'scope': 'all'}},
     r'config\.filter_options\.code_block\.scope=.all.*cot'),
    ([], {'nope': {}}, r'config\.filter_options\.nope: unknown filter'),
])
def test_validate_names_the_field(names, options, field):
  with pytest.raises(ValueError, match=field):
    chain.validate(names, options)


def test_validate_accepts_a_config_built_from_the_defaults():
  options = ml_collections.ConfigDict(chain.default_options())
  options.language.min_fraction = 0.9
  chain.validate(ALL, options)
  out, _ = chain.apply([record()], ALL, options, think_opened=True,
                       extra=EXTRA)
  assert out[0]['rejected_by'] is None
