"""The `judge` rejection-sampling filter: keeps what the judge passes,
rejects and counts unparseable verdicts and samples without a reference,
checks its options; the generate stage loads `config.judge` for it (config
errors name the field), and end to end keeps everything a judge trained
to pass everything passes, and nothing of a random judge (unparseable)."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import generate as generate_config
from r1jax import checkpoint as ckpt_lib
from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.data import tasks
from r1jax.models import presets
from r1jax.rejection import chain, judge_filter
from r1jax.rewards import judge as host
from r1jax.trainers import generate, judge_model
from tests.rewards.device import judge_test as device_test
from tests.trainers import util


class StubJudge:
  """Writes `answers[response]` for each response; parsed by the host."""

  def __init__(self, answers, kind='verdict'):
    self.answers, self.kind, self.calls = answers, kind, []

  def score(self, questions, references, responses, return_text=False):
    self.calls.append((list(questions), list(references), list(responses)))
    texts = [self.answers[x] for x in responses]
    values, ok = zip(*[host.parse(self.kind, t) for t in texts]) \
        if texts else ((), ())
    out = np.array(values, np.float32), np.array(ok, bool)
    return (*out, texts) if return_text else out


def _samples(texts, references):
  return [{'id': f'p{i}', 'sample': 0, 'prompt': f'question {i}',
           'reference': r, 'completion': t}
          for i, (t, r) in enumerate(zip(texts, references))]


def test_keeps_passed_rejects_and_counts_the_rest():
  texts = ['<answer>1</answer> bye', '<answer>2</answer>', 'x', 'y', 'z']
  refs = ['1', '1', '1', None, '']
  stub = StubJudge({'<answer>1</answer>': '**Verdict:** correct',
                    '<answer>2</answer>': 'Verdict: incorrect',
                    'x': 'I cannot tell.'})
  out, counts = chain.apply(
      _samples(texts, refs), ('trim_after_answer', 'judge'), {},
      think_opened=False, extra={'judge': {'judge': stub}})
  assert [s['rejected_by'] for s in out] == [None] + ['judge'] * 4
  assert counts['rejected']['judge'] == 4 and counts['kept'] == 1
  # The judge saw the trimmed text, the question and the reference, and
  # only the samples that have a reference.
  assert stub.calls == [(['question 0', 'question 1', 'question 2'],
                         ['1', '1', '1'],
                         ['<answer>1</answer>', '<answer>2</answer>', 'x'])]
  assert out[0]['judge'] == {'value': 1.0, 'ok': True,
                             'completion': '**Verdict:** correct'}
  assert out[2]['judge'] == {'value': None, 'ok': False,
                             'completion': 'I cannot tell.'}
  assert out[3]['judge']['completion'] is None
  assert judge_filter.summary(out) == {
      'judged': 3, 'parsed': 2, 'unparseable': 1, 'no_reference': 2,
      'mean_value': 0.5}


def test_score_threshold():
  texts = ['a', 'b', 'c', 'd']
  stub = StubJudge({'a': 'Score: 1', 'b': 'Score: 5', 'c': 'Score: 6',
                    'd': 'Score: 10'}, kind='score')
  out, _ = chain.apply(_samples(texts, ['r'] * 4), ('judge',),
                       {'judge': {'threshold': 0.5}}, think_opened=False,
                       extra={'judge': {'judge': stub}})
  # (N - 1) / 9 >= 0.5 for N >= 5.5.
  assert [s['rejected_by'] is None for s in out] == [False, False, True,
                                                      True]


def test_options_are_checked():
  with pytest.raises(ValueError, match=r'config\.filter_options\.judge\.'
                     r'threshold=2'):
    chain.validate(('judge',), {'judge': {'threshold': 2}})
  with pytest.raises(ValueError, match='not a config option'):
    chain.validate(('judge',), {'judge': {'judge': 'x'}})
  with pytest.raises(ValueError, match=r"needs 'judge'"):
    chain.apply(_samples(['a'], ['1']), ('judge',), {}, think_opened=False)
  assert chain.default_options()['judge'] == {'threshold': 0.5}


# THE GENERATE STAGE


CFG = presets.get('tiny').replace(vocab_size=384)


def _bpe(directory):
  """A byte-level BPE (EOS <|im_end|>, the R1 tags added) whose merges
  make the verdict line a few tokens."""
  corpus = ['Verdict: correct\nVerdict: incorrect', 'Compute 8 + 18 - 1. '
            'The final answer is a single integer.', '<think> 12 + 30 = 42 '
            '</think> <answer> 42 </answer>'] * 40
  util.bpe_tokenizer_json(directory, ['<|endoftext|>', '<|im_end|>'], corpus,
                          added=tok_lib.R1_SPECIAL_TOKENS)
  with open(f'{directory}/tokenizer_config.json', 'w') as f:
    json.dump({'eos_token': '<|im_end|>', 'pad_token': '<|endoftext|>'}, f)
  return tok_lib.load(directory)


@pytest.fixture(scope='module')
def dirs(tmp_path_factory):
  """The BPE tokenizer, a random HF judge with it, and one with another
  tokenizer (SentencePiece)."""
  root = tmp_path_factory.mktemp('judges')
  tok = _bpe(str(root / 'tok'))
  params = device_test.train_judge(CFG, tok, None, steps=0)[0]
  out = {'tok': str(root / 'tok'), 'random': str(root / 'random'),
         'other': str(root / 'other')}
  ckpt_lib.export_hf(out['random'], CFG, params, tokenizer=tok)
  ckpt_lib.export_hf(out['other'], CFG, params,
                     tokenizer=util.tokenizer(str(root)))
  return out


@pytest.fixture(scope='module')
def passing(dirs, tmp_path_factory):
  """An HF judge trained to write `Verdict: correct` whatever it reads
  (arithmetic questions, random replies such as a random policy's)."""
  tok = tok_lib.load(dirs['tok'])
  task = tasks.get('arithmetic')

  def example(rng):
    ex = task.examples(int(rng.integers(1000)), 0, 1)[0]
    reply = tok.decode(rng.integers(0, tok.vocab_size, 8).tolist())
    return ex['prompt'], ex['answer'], reply, 'Verdict: correct'

  params = device_test.train_judge(CFG, tok, example, steps=60, length=64)[0]
  path = str(tmp_path_factory.mktemp('passing'))
  ckpt_lib.export_hf(path, CFG, params, tokenizer=tok)
  return dict(dirs, passing=path)


def _config(dirs, judge, **kw):
  c = generate_config.get_config('demo')
  c.tokenizer = dirs['tok']
  c.model.preset = 'tiny'
  c.prompts.max_new_tokens = 8
  c.prompts.task_count = 8
  c.batch_rows = 16
  c.filters = ('judge',)
  c.judge.init_from = dirs[judge]
  c.judge.template = device_test.TEMPLATE
  c.judge.parse = 'verdict'
  c.judge.max_new_tokens = 8
  c.judge.batch_rows = 8
  c.update_from_flattened_dict(kw)
  return c


@pytest.mark.parametrize('kw, match', [
    ({'judge.init_from': ''}, r'config\.judge\.init_from is empty'),
    ({'judge.template': 'Q {question}'}, r'config\.judge\.template'),
    ({'judge.parse': ''}, r'config\.judge\.parse'),
    ({'judge.span': 'cot'}, r'config\.judge\.span'),
    ({'judge.batch_rows': 0}, r'config\.judge\.batch_rows'),
])
def test_bad_judge_config_names_the_field(dirs, kw, match):
  with pytest.raises(ValueError, match=match):
    generate.validate(_config(dirs, 'random', **kw))


def test_a_judge_with_another_tokenizer_is_refused(dirs, tmp_path):
  with pytest.raises(ValueError, match=r'config\.judge\.init_from=.*other.*'
                     'tokenizer has'):
    generate.run(_config(dirs, 'other'), str(tmp_path))


def _run(c, workdir, kept=True):
  if kept:
    generate.run(c, str(workdir))
  else:  # the stage fails after writing its report
    with pytest.raises(generate.NothingKeptError, match='judge 32'):
      generate.run(c, str(workdir))
  rows = [json.loads(x) for x in open(workdir / 'generations.jsonl')]
  report = json.loads((workdir / 'filter_report.json').read_text())
  return rows, report


def test_generate_with_a_judge(passing, tmp_path):
  # A judge that passes everything keeps every sample...
  rows, report = _run(_config(passing, 'passing'), tmp_path / 'passing')
  assert len(rows) == 32 and report['kept'] == 32
  assert report['judge'] == {'judged': 32, 'parsed': 32, 'unparseable': 0,
                             'no_reference': 0, 'mean_value': 1.0}
  assert {r['judge']['completion'] for r in rows} == {'Verdict: correct'}
  # ... and a random one passes nothing: every verdict unparseable,
  # counted as such, each recorded with what the judge wrote.
  rows, report = _run(_config(passing, 'random'), tmp_path / 'random',
                      kept=False)
  assert report['kept'] == 0
  assert report['judge']['unparseable'] == 32
  assert all(r['rejected_by'] == 'judge' and not r['judge']['ok']
             and host.parse('verdict', r['judge']['completion'])[1] is False
             for r in rows)


def test_loaded_judge_pieces_render_its_host_prompt(dirs):
  """The device pieces of a loaded judge, filled in, are its host prompt
  (the BPE tokenizer encodes them losslessly); it stops at its EOS."""
  tok = tok_lib.load(dirs['tok'])
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  j = judge_model.load(_config(dirs, 'random').judge, mesh,
                       shd.DEFAULT_RULES, tok)
  pieces = j.pieces()
  values = {'question': 'Q?', 'reference': 'R!', 'response': ' A.'}
  lits = [tok.decode(list(p)) for p in pieces.literals]
  text = lits[0] + ''.join(values[f] + lit
                           for f, lit in zip(pieces.fields, lits[1:]))
  assert text == j.prompt('Q?', 'R!', '<think>no</think> A.')
  assert pieces.stop_ids == (tok.eos_id,) and j.wrap == ('', '')


# MULTI-HOST: process 0 scores, the other serves its sampler calls


CASES = ([f'Compute {i} + {i % 3}.' for i in range(19)],
         [str(i + i % 3) for i in range(19)],
         [f'<think>{"x" * i}</think> It is {i}.' for i in range(19)])
_WORKER = r'''
import json, os, sys
from tests.cpu_flags import xla_flags
os.environ["XLA_FLAGS"] = xla_flags(4)
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
import jax
pid, port, judge_dir, tok_dir, out = sys.argv[1:]
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2,
                           process_id=int(pid))
from r1jax import sharding as shd, tokenizers as tok_lib
from r1jax.trainers import judge_model
from tests.rejection import judge_filter_test as t
c = t._config({"tok": tok_dir, "random": judge_dir}, "random")
j = judge_model.load(c.judge, shd.make_mesh((2, 2, 2)), shd.DEFAULT_RULES,
                     tok_lib.load(tok_dir))
if jax.process_index() == 0:
  try:
    texts = j.score(*t.CASES, return_text=True)[2]
  finally:
    j.stop()
  with open(out, "w") as f:
    json.dump(texts, f)
else:
  j.serve()
'''


def test_two_processes_judge_like_one(dirs, tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  out = str(tmp_path / 'texts.json')
  procs = [subprocess.Popen(
      [sys.executable, '-c', _WORKER, str(i), str(port), dirs['random'],
       dirs['tok'], out], cwd=root, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT) for i in range(2)]
  j = judge_model.load(_config(dirs, 'random').judge, shd.make_mesh((2, 2, 2)),
                       shd.DEFAULT_RULES, tok_lib.load(dirs['tok']))
  want = j.score(*CASES, return_text=True)[2]
  for p in procs:
    log = p.communicate(timeout=600)[0].decode()[-3000:]
    assert p.returncode == 0, log
  with open(out) as f:
    assert json.load(f) == want
