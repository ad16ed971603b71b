"""Device judge == host judge: the prompt rows built from token pieces
inside jit decode to the host's `render(...)` text (character-level and
byte-level BPE tokenizers, both spans, G > 1), verdicts parsed from token
ids equal the host regex parse on decoded text (hand cases and fuzzed
strings), and a tiny judge trained here gives the same verdicts and the
same completions through the device function as through `Judge.score`
(text rendered, encoded, sampled and parsed on the host)."""
import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from r1jax import sharding as shd
from r1jax import tokenizers as tok_lib
from r1jax.models import Transformer, init_params, presets
from r1jax.rewards import decode as decode_lib
from r1jax.rewards import judge as host
from r1jax.rewards.device import judge as device
from r1jax.rewards.device import testing
from r1jax.trainers import judge_model
from tests.rewards import judge_test as host_test
from tests.trainers import util

# A short user template: the trained judge reads it fast.
TEMPLATE = 'Q {question}\nR {reference}\nA {response}\n>'


class CharTokenizer(tok_lib.Tokenizer):
  """testing.CharVocab behind the Tokenizer interface (0 pad, 1 EOS)."""

  def __init__(self):
    self.v = testing.CharVocab(extra_chars='\n\t')
    self.eos_id, self.pad_id, self.bos_id = testing.EOS, testing.PAD, None
    self.special_tokens = {'<pad>': 0, '<eos>': 1}

  def encode(self, text, add_bos=False, add_eos=False):
    return self._with_ends(self.v.encode(text), add_bos, add_eos)

  def decode(self, ids, skip_special=False):
    return ''.join(self.v.texts[i] for i in self._in_range(ids)
                   if not (skip_special and i < 2))

  @property
  def vocab_size(self):
    return len(self.v.texts)

  def token_to_id(self, token):
    if token in self.special_tokens:
      return self.special_tokens[token]
    ids = self.v.encode(token) if token and all(
        c in self.v.texts for c in token) else []
    return ids[0] if len(ids) == 1 else None


@functools.lru_cache(maxsize=None)
def char_tok():
  return CharTokenizer()


@pytest.fixture(scope='module')
def bpe_tok(tmp_path_factory):
  """A byte-level BPE whose merges span the verdict words and the tags."""
  corpus = ['**Verdict:** correct\nVerdict: incorrect. Score: 10/10 Score: 7',
            '<think> 12 + 30 = 42 </think> The answer is 42.',
            'Question:\nWhat is 6*7?\n\nReference answer:\n42\n\n'] * 40
  d = str(tmp_path_factory.mktemp('bpe'))
  util.bpe_tokenizer_json(d, ['<|endoftext|>', '<|im_end|>'], corpus,
                          vocab_size=400, added=tok_lib.R1_SPECIAL_TOKENS)
  with open(os.path.join(d, 'tokenizer_config.json'), 'w') as f:
    f.write('{"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}')
  return tok_lib.load(d)


def _pad(seqs, pad_id, left=False, length=None):
  n = length or max(1, max(len(s) for s in seqs))
  toks = np.full((len(seqs), n), pad_id, np.int32)
  mask = np.zeros((len(seqs), n), np.int32)
  for i, s in enumerate(seqs):
    sl = slice(n - len(s), n) if left else slice(0, len(s))
    toks[i, sl], mask[i, sl] = s, 1
  return jnp.asarray(toks), jnp.asarray(mask)


# PARSING: token ids on device == regex on the decoded text


_WORDS = {'verdict': ['Verdict', 'verdict', 'VERDICT', '**Verdict', 'Verdic'],
          'score': ['Score', 'score', 'SCORE', '**Score', 'Scor']}
_VALUES = {'verdict': ['correct', 'incorrect', 'Correct', 'INCORRECT',
                       'correctly', 'incorr', '**correct**', 'correct2',
                       'maybe', '`incorrect`', 'in correct', 'correct_'],
           'score': ['7', '10', '1', '0', '11', '123', '7.5', '8.', '9/10',
                     '05', '3.x', 'seven', '**6**', '2.0']}
_GAPS = ['', ' ', '  ', '\n', '\t', ' \n ', '**', '** ', '_', ' - ']
_JUNK = ['', 'ok. ', 'The answer: 42\n', 'x', 'Score: Verdict: ', '!']


def _fuzz(kind, n, seed, extra=()):
  """Strings built around the pattern with random near-misses: a verdict
  line or two among junk, its pieces varied."""
  rng = np.random.default_rng(seed)
  pick = lambda xs: xs[rng.integers(len(xs))]  # noqa: E731
  out = []
  for _ in range(n):
    text = ''
    for _ in range(rng.integers(1, 3)):
      text += (pick(_JUNK + list(extra)) + pick(_WORDS[kind]) + pick(_GAPS)
               + pick([':', ':', ':', ';', '']) + pick(_GAPS)
               + pick(_VALUES[kind] + list(extra)) + pick(_JUNK + ['.']))
    out.append(text)
  return out


def _check_parse(tok, texts, kind):
  ids = [tok.encode(t) + [tok.eos_id] for t in texts]
  toks, mask = _pad(ids, tok.pad_id)
  strip = decode_lib.stripped_ids(tok)
  chars = jnp.asarray(device.char_table(tok.token_texts(), sorted(strip)))
  value, ok = jax.jit(device.parse_tokens, static_argnums=0)(
      kind, chars, toks, mask)
  decoded = decode_lib.decode(tok, np.asarray(toks), mask.sum(1), strip)
  assert decoded == texts  # the host reads what was encoded
  want = [host.parse(kind, t) for t in decoded]
  np.testing.assert_array_equal(np.asarray(ok), [w[1] for w in want])
  np.testing.assert_allclose(np.asarray(value), [w[0] for w in want],
                             rtol=1e-6)
  # Both outcomes are exercised, and several values among the parsed.
  ok = np.asarray(ok)
  assert 0.1 < ok.mean() < 0.9 and len(set(np.asarray(value)[ok])) > 1



@pytest.mark.parametrize('kind', host.KINDS)
def test_parse_tokens_equals_host_parse_char_vocab(kind):
  cases = host_test.VERDICTS if kind == 'verdict' else host_test.SCORES
  texts = [t for t, _, _ in cases if t.isascii()] + _fuzz(kind, 400, 0)
  _check_parse(char_tok(), texts, kind)


@pytest.mark.parametrize('kind', host.KINDS)
def test_parse_tokens_equals_host_parse_bpe(bpe_tok, kind):
  cases = host_test.VERDICTS if kind == 'verdict' else host_test.SCORES
  texts = [t for t, _, _ in cases] + _fuzz(kind, 400, 1, ['é', '٧', '中'])
  _check_parse(bpe_tok, texts, kind)


# PROMPT ROWS: built on device == rendered on the host


QUESTIONS = ['What is 2+3?', 'Name a prime.\nOne word.', '9*9']
REFERENCES = ['5', '7', '81']
COMPLETIONS = [  # G = 2 per question
    '<think>2+3 is 5</think> The answer is 5.', 'It is 6.',
    '<think>hmm</think>\n\n**7**', '<think>a</think>b</think> 11',
    '<think>9*9=81', '<think></think>']


def _rows(tok, template, span, completions=COMPLETIONS, wrap=('', '')):
  pieces = device.Pieces.build(
      tok.encode, template, parse_as='verdict', span=span,
      think_close=tok.encode('</think>'), bos_id=tok.bos_id,
      strip_ids=sorted(decode_lib.stripped_ids(tok)),
      stop_ids=(tok.eos_id,), pad_id=tok.pad_id, wrap=wrap,
      decode=tok.decode)
  q, qm = _pad([tok.encode(x) for x in QUESTIONS], tok.pad_id, left=True)
  r, rm = _pad([tok.encode(x) for x in REFERENCES], tok.pad_id)
  c, cm = _pad([tok.encode(x) + [tok.eos_id] for x in completions],
               tok.pad_id, length=48)
  rows, mask = jax.jit(device.build_rows, static_argnums=0)(
      pieces, q, qm, c, cm, r, rm)
  rows, mask = np.asarray(rows), np.asarray(mask)
  assert (mask[:, -1] == 1).all()  # the sampler continues a real token
  return [tok.decode(list(row[m > 0])) for row, m in zip(rows, mask)]


@pytest.mark.parametrize('span', host.SPANS)
@pytest.mark.parametrize('template', ['verdict', TEMPLATE])
def test_device_rows_decode_to_the_host_render(bpe_tok, span, template):
  for tok in (char_tok(), bpe_tok):
    wrap = ('<|im_start|>user\n', '<|im_end|>\n') if tok is bpe_tok \
        else ('', '')
    got = _rows(tok, template, span, wrap=wrap)
    want = [host.render(template, QUESTIONS[i // 2], REFERENCES[i // 2],
                        host.response_span(x, span), wrap)
            for i, x in enumerate(COMPLETIONS)]
    assert got == want


def test_summary_rows_ignore_the_think_part(bpe_tok):
  changed = [x.replace('2+3 is 5', 'no, 7?').replace('hmm', 'Verdict: ok')
             for x in COMPLETIONS]
  assert changed != COMPLETIONS
  assert _rows(bpe_tok, 'verdict', 'summary', changed) == _rows(
      bpe_tok, 'verdict', 'summary')
  assert _rows(bpe_tok, 'verdict', 'full', changed) != _rows(
      bpe_tok, 'verdict', 'full')


def test_pieces_refuse_a_lossy_tokenizer():
  lossy = lambda ids: ''.join(chr(i) for i in ids).strip()  # noqa: E731
  with pytest.raises(ValueError, match='losslessly'):
    device.Pieces.build(lambda s: [ord(c) for c in s], TEMPLATE,
                        parse_as='verdict', think_close=(1,), decode=lossy)


# A TRAINED JUDGE: device function == host Judge.score


CFG = presets.get('tiny').replace(vocab_size=128, max_seq_len=256,
                                  num_layers=2, embed_dim=64, mlp_dim=128)


def _response(rng, ref):
  """(completion, the verdict a perfect judge writes) for reference
  `ref`: right 45%, wrong 45%, no answer ('?') 10%."""
  roll = rng.random()
  if roll < 0.45:
    ans, verdict = ref, 'Verdict: correct'
  elif roll < 0.9:
    ans = str((int(ref) + rng.integers(1, 9)) % 19)
    verdict = 'Verdict: incorrect'
  else:
    ans, verdict = '?', 'no idea'
  think = ''.join(rng.choice(list('0123456789+= '), size=rng.integers(0, 6)))
  return f'<think>{think}</think> {ans}', verdict


def _example(rng):
  a, b = rng.integers(0, 10, size=2)
  return (f'{a}+{b}', str(a + b), *_response(rng, str(a + b)))


def train_judge(cfg, tok, example_fn, steps=150, seed=0, length=40):
  """Teacher-forced training of a tiny judge of TEMPLATE on
  `example_fn(rng) -> (question, reference, completion, judge output)`
  (summary span). Returns (params, mesh, last loss)."""
  mesh = shd.make_mesh((1, 1, 1), devices=jax.devices()[:1])
  params = shd.init_sharded(lambda r: init_params(cfg, r),
                            jax.random.key(seed), mesh)[0]
  rng = np.random.default_rng(seed)
  tx = optax.adam(3e-3)

  def batch(n=32):
    toks = np.full((n, length), tok.pad_id, np.int32)
    seg, loss_m = np.zeros_like(toks), np.zeros_like(toks)
    for i in range(n):
      q, r, x, v = example_fn(rng)
      p = tok_lib.encode_prompt(tok, host.render(
          TEMPLATE, q, r, host.response_span(x, 'summary')))
      full = (p + tok.encode(v) + [tok.eos_id])[:length]
      toks[i, :len(full)], seg[i, :len(full)] = full, 1
      loss_m[i, len(p):len(full)] = 1
    return toks, seg, loss_m

  def loss_fn(p, toks, seg, loss_m):
    logits, _ = Transformer(cfg).apply({'params': p}, toks[:, :-1],
                                       segment_ids_BxT=seg[:, :-1])
    logp = jax.nn.log_softmax(logits.astype(jnp.float32))
    nll = -jnp.take_along_axis(logp, toks[:, 1:, None], -1)[..., 0]
    return (nll * loss_m[:, 1:]).sum() / loss_m[:, 1:].sum()

  @jax.jit
  def step(p, o, toks, seg, loss_m):
    loss, g = jax.value_and_grad(loss_fn)(p, toks, seg, loss_m)
    u, o = tx.update(g, o, p)
    return optax.apply_updates(p, u), o, loss

  opt, loss = tx.init(params), np.nan
  for _ in range(steps):
    params, opt, loss = step(params, opt, *batch())
  return params, mesh, float(loss)


@pytest.fixture(scope='module')
def trained():
  """`Verdict: correct` when the summary's answer is the reference,
  `Verdict: incorrect` when not, `no idea` (unparseable) for '?'."""
  return train_judge(CFG, char_tok(), _example)


def test_trained_judge_device_equals_host(trained):
  params, mesh, loss = trained
  tok = char_tok()
  j = judge_model.Judge(params=params, cfg=CFG, tok=tok, mesh=mesh,
                        rules=shd.DEFAULT_RULES, template=TEMPLATE,
                        kind='verdict', span='summary', max_new_tokens=20,
                        batch_rows=8, stop_ids=(tok.eos_id,))
  rng = np.random.default_rng(7)
  questions, refs = zip(*[_example(rng)[:2] for _ in range(12)])
  # G = 2 completions per question, prompt-major.
  q_rows, r_rows = [q for q in questions for _ in range(2)], [
      r for r in refs for _ in range(2)]
  responses, truth = zip(*[_response(rng, r) for r in r_rows])
  values, ok, texts = j.score(q_rows, r_rows, responses, return_text=True)

  q, qm = _pad([tok.encode(x) for x in questions], tok.pad_id, left=True)
  r, rm = _pad([tok.encode(x) for x in refs], tok.pad_id)
  c, cm = _pad([tok.encode(x) + [tok.eos_id] for x in responses], tok.pad_id,
               length=32)
  out = jax.jit(device.judge, static_argnums=(1, 2))(
      params, CFG, j.pieces(), jnp.asarray(j.chars()), q, qm, c, cm, r, rm)
  dev_texts = decode_lib.decode(tok, np.asarray(out.tokens_BxN),
                                np.asarray(out.mask_BxN).sum(1))
  assert dev_texts == texts
  np.testing.assert_array_equal(np.asarray(out.ok_B), ok)
  np.testing.assert_array_equal(np.asarray(out.value_B), values)
  # The rows the judge read are the host's prompts.
  rows = [tok.decode(list(x[m > 0])) for x, m in zip(
      np.asarray(out.rows_BxT), np.asarray(out.rows_mask_BxT))]
  assert rows == [j.prompt(a, b, x) for a, b, x in zip(q_rows, r_rows,
                                                       responses)]
  # A judge that learned something: all three outcomes occur, and its
  # verdicts mostly match the answers' correctness.
  right = np.array([host.parse('verdict', v)[0] for v in truth])
  assert ok.sum() >= 12 and (~ok).sum() >= 1, (loss, texts)
  assert 0 < values[ok].mean() < 1, texts
  print(f'trained judge: loss {loss:.3f}, verdict == truth on '
        f'{(values[ok] == right[ok]).mean():.2f} of {ok.sum()} parsed')

  # ONE PROGRAM ON A (2, 2, 2) MESH, rows sharded: the same verdicts.
  mesh8 = shd.make_mesh((2, 2, 2))
  shardings = shd.init_sharded(lambda k: init_params(CFG, k),
                               jax.random.key(0), mesh8)[1]
  by_row = jax.sharding.NamedSharding(
      mesh8, jax.sharding.PartitionSpec(('data', 'fsdp')))
  rows_sharded = lambda x: jax.device_put(x, by_row)  # noqa: E731
  with jax.set_mesh(mesh8), nn.logical_axis_rules(shd.DEFAULT_RULES):
    out8 = jax.jit(device.judge, static_argnums=(1, 2))(
        jax.device_put(params, shardings), CFG, j.pieces(),
        jnp.asarray(j.chars()), *map(rows_sharded, (q, qm, c, cm, r, rm)))
  np.testing.assert_array_equal(np.asarray(out8.tokens_BxN),
                                np.asarray(out.tokens_BxN))
  np.testing.assert_array_equal(np.asarray(out8.value_B), values)
  np.testing.assert_array_equal(np.asarray(out8.ok_B), ok)

  # A prompt the judge cannot hold is not judged (and not sampled).
  assert j.score(['1+1'], ['2'], ['x' * CFG.max_seq_len]) == ([0.0],
                                                              [False])
