"""Models' own chat templates: our rendering against transformers', prompts,
`think_opened` and BOS handling, on published tokenizer configs."""
import json
import pathlib
import shutil

import pytest
import tokenizers as hf_tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from r1jax import tokenizers as tok_lib
from r1jax.data import chat
from r1jax.data import templates

transformers = pytest.importorskip('transformers')

CONFIGS = pathlib.Path(__file__).parent / 'tokenizer_configs'
QWEN = 'Qwen--Qwen2.5-7B-Instruct.json'
R1_NEW = 'deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B.json'  # <think>\n
R1_OLD = 'deepseek-ai--DeepSeek-R1-Distill-Qwen-32B.json'  # Jan 2025
LLAMA = 'meta-llama--Llama-3.1-8B-Instruct.json'
ALL = (QWEN, R1_NEW, R1_OLD, LLAMA)

CHATS = {
    'user': [{'role': 'user', 'content': 'What is 2+2?'}],
    'system_user': [{'role': 'system', 'content': 'You are terse.'},
                    {'role': 'user', 'content': 'Hi'}],
    'unicode_newlines': [
        {'role': 'user',
         'content': '  Ünïcödé 中文 ∑ — "quotes" \\n\nline two\n\n\tend  '}],
    'multi_turn': [
        {'role': 'user', 'content': 'What is 2+2?'},
        {'role': 'assistant', 'content': '<think>\n2+2=4\n</think>\n\n4'},
        {'role': 'user', 'content': 'And 3+3?'}],
}


def published(name: str) -> chat.ChatTemplate:
  return chat.ChatTemplate.from_tokenizer_config(str(CONFIGS / name))


def reference(template: chat.ChatTemplate):
  """transformers' tokenizer with the same template and special tokens."""
  tok = hf_tokenizers.Tokenizer(models.WordLevel({'[UNK]': 0},
                                                 unk_token='[UNK]'))
  tok.add_special_tokens(list(dict.fromkeys(template.special_tokens.values())))
  return transformers.PreTrainedTokenizerFast(
      tokenizer_object=tok, chat_template=template.template,
      **template.special_tokens)


@pytest.mark.parametrize('chat_name', sorted(CHATS))
@pytest.mark.parametrize('config', ALL)
def test_matches_transformers(config, chat_name):
  ours = published(config)
  ref = reference(ours)
  for gen in (True, False):
    want = ref.apply_chat_template(CHATS[chat_name], tokenize=False,
                                   add_generation_prompt=gen)
    assert ours.render(CHATS[chat_name], add_generation_prompt=gen) == want


def test_published_fields():
  qwen, r1, llama = published(QWEN), published(R1_NEW), published(LLAMA)
  assert 'bos_token' not in qwen.special_tokens  # "bos_token": null
  assert qwen.special_tokens['eos_token'] == '<|im_end|>'
  assert r1.special_tokens['bos_token'] == templates.BOS  # AddedToken dict
  assert r1.special_tokens['eos_token'] == templates.EOS
  assert llama.special_tokens == {'bos_token': '<|begin_of_text|>',
                                  'eos_token': '<|eot_id|>'}
  # The two R1-Distill templates differ only by the <think>\n DeepSeek
  # appended to the generation prompt in February 2025.
  old = published(R1_OLD).template
  assert r1.template == old.replace(
      "{{'<｜Assistant｜>'}}{% endif %}",
      "{{'<｜Assistant｜><think>\\n'}}{% endif %}")


def test_r1_chat_text_is_the_distill_template():
  got = published(R1_OLD).render([{'role': 'user', 'content': 'Hi'}])
  assert got + templates.THINK_PREFIX == templates.render('r1_chat', 'Hi')
  got = published(R1_NEW).render([{'role': 'user', 'content': 'Hi'}])
  assert got == templates.render('r1_chat', 'Hi')


def test_llama_date_line_is_deterministic():
  ours = published(LLAMA)
  ref = reference(ours)
  msgs = CHATS['system_user']
  assert 'Today Date: 26 Jul 2024\n' in ours.render(msgs)  # its default
  want = ref.apply_chat_template(msgs, tokenize=False,
                                 add_generation_prompt=True,
                                 date_string='05 Mar 2025')
  got = ours.render(msgs, date_string='05 Mar 2025')
  assert got == want
  assert 'Cutting Knowledge Date: December 2023\nToday Date: 05 Mar 2025' in got


def test_helpers_match_transformers():
  template = chat.ChatTemplate(
      "{{ bos_token }}{{ strftime_now('%Y') }}|{{ messages | tojson }}|"
      "{{ messages[0] | tojson(indent=2) }}{% set ns = namespace(n=0) %}"
      "{% for m in messages %}{% set ns.n = ns.n + 1 %}{% if loop.last %}"
      "{% break %}{% endif %}{% endfor %}{{ ns.n }}"
      "{{ dict(a=1) | tojson }}{{ dict.fromkeys(['b']) | tojson }}"
      "{{ tools is none }}{% generation %}{{ messages[-1].content }}"
      "{% endgeneration %}",
      (('bos_token', '<s>'),))
  msgs = [{'role': 'user', 'content': 'é "<b>" 中', 'name': None},
          {'role': 'assistant', 'content': 'ok'}]
  assert template.render(msgs) == reference(template).apply_chat_template(
      msgs, tokenize=False, add_generation_prompt=True)


def test_raise_exception_names_the_source():
  template = chat.ChatTemplate("{{ raise_exception('no system!') }}",
                               source='x/tokenizer_config.json')
  with pytest.raises(ValueError, match='x/tokenizer_config.json.*no system!'):
    template.render(CHATS['user'])


def test_sandboxed():
  template = chat.ChatTemplate('{{ messages.__class__.__mro__ }}')
  with pytest.raises(ValueError, match='SecurityError|undefined'):
    template.render(CHATS['user'])
  with pytest.raises(ValueError, match='_x'):
    chat.ChatTemplate('{% set ns = namespace(_x=1) %}').render(CHATS['user'])


def test_config_forms(tmp_path):
  cfg = tmp_path / 'tokenizer_config.json'
  cfg.write_text(json.dumps({
      'bos_token': None,
      'eos_token': {'__type': 'AddedToken', 'content': '</s>'},
      'image_token': '<img>',
      'chat_template': [{'name': 'tool_use', 'template': 'T'},
                        {'name': 'default', 'template': '{{ eos_token }}'}]}))
  got = chat.ChatTemplate.from_tokenizer_config(str(tmp_path))
  assert got.template == '{{ eos_token }}'
  assert got.special_tokens == {'eos_token': '</s>', 'image_token': '<img>'}
  assert got.render(CHATS['user']) == '</s>'
  # A chat_template.jinja beside the config takes priority.
  (tmp_path / 'chat_template.jinja').write_text('J{{ eos_token }}')
  got = chat.ChatTemplate.from_tokenizer_config(str(cfg))
  assert got.render(CHATS['user']) == 'J</s>'
  assert got.source.endswith('chat_template.jinja')


def test_config_errors_name_file_and_field(tmp_path):
  cfg = tmp_path / 'tokenizer_config.json'
  cfg.write_text(json.dumps({'eos_token': '</s>'}))
  with pytest.raises(ValueError, match=r'tokenizer_config.json: no '
                     'chat_template field'):
    chat.ChatTemplate.from_tokenizer_config(str(tmp_path))
  assert chat.load(str(tmp_path)) is None
  cfg.write_text(json.dumps({'chat_template': [{'name': 'rag',
                                                'template': 'x'}]}))
  with pytest.raises(ValueError, match='field chat_template has no "default"'):
    chat.ChatTemplate.from_tokenizer_config(str(tmp_path))
  cfg.write_text(json.dumps({'chat_template': 'x', 'bos_token': 3}))
  with pytest.raises(ValueError, match='field bos_token'):
    chat.ChatTemplate.from_tokenizer_config(str(tmp_path))
  with pytest.raises(FileNotFoundError, match='none not found'):
    chat.ChatTemplate.from_tokenizer_config(str(tmp_path / 'none'))


# Prompts and think_opened -------------------------------------------------


class FakeTok:
  def __init__(self, template, path='model/tokenizer.json'):
    self.chat_template, self.path = template, path


def test_think_opened_follows_the_template():
  r1_old, r1_new, qwen = (FakeTok(published(n)) for n in (R1_OLD, R1_NEW,
                                                           QWEN))
  assert templates.make_prompter('chat', r1_old,
                                 prefill='<think>\n').think_opened
  assert not templates.make_prompter('chat', r1_old).think_opened
  assert templates.make_prompter('chat', r1_new).think_opened
  assert templates.make_prompter('chat_math', r1_new).think_opened
  assert not templates.make_prompter('chat', qwen).think_opened
  assert templates.make_prompter('chat', qwen,
                                 prefill='<think>\n').think_opened
  assert templates.make_prompter('r1_chat').think_opened
  assert not templates.make_prompter('r1_zero').think_opened  # quotes tags
  assert templates.make_prompter('plain', prefill='<think>').think_opened
  assert templates.THINK_OPENED == ('r1_chat', 'r1_chat_math')


def test_think_opened_ignores_the_question():
  p = templates.make_prompter('chat', FakeTok(published(QWEN)))
  assert templates.opens_think(p.render('What does <think> mean?'))
  assert not p.think_opened


def test_chat_prompts():
  qwen = FakeTok(published(QWEN))
  p = templates.make_prompter('chat', qwen, system='Be brief.',
                              prefill='<think>\n')
  assert p.render('Hi') == ('<|im_start|>system\nBe brief.<|im_end|>\n'
                            '<|im_start|>user\nHi<|im_end|>\n'
                            '<|im_start|>assistant\n<think>\n')
  got = templates.make_prompter('chat_math', qwen).render('Find x. ')
  assert got.endswith('Find x.\n' + templates.MATH_SUFFIX + '<|im_end|>\n'
                      '<|im_start|>assistant\n')
  assert got.startswith('<|im_start|>system\nYou are Qwen')  # its default
  with pytest.raises(ValueError, match='system'):
    templates.make_prompter('r1_zero', system='x')
  with pytest.raises(ValueError, match='needs a tokenizer'):
    templates.render('chat', 'q')


def test_chat_without_template_fails_clearly():
  with pytest.raises(ValueError, match=r"config.template='chat'.*"
                     r'model/tokenizer.json has none'):
    templates.make_prompter('chat', FakeTok(None))
  with pytest.raises(ValueError, match='no tokenizer'):
    templates.make_prompter('chat_math', None)


# Tokenizers -----------------------------------------------------------------

SPECIALS = ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>',
            '<｜Assistant｜>', '<|begin_of_text|>', '<|eot_id|>',
            '<|start_header_id|>', '<|end_header_id|>', '<|im_start|>',
            '<|im_end|>', '<|endoftext|>', '<think>', '</think>']


@pytest.fixture(scope='module')
def tokenizer_json(tmp_path_factory):
  """A byte-level BPE tokenizer.json holding the published special tokens."""
  tok = hf_tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  corpus = ['What is 2+2? Please reason step by step.', 'Hi there 中文'] * 20
  tok.train_from_iterator(corpus, trainers.BpeTrainer(
      vocab_size=300, special_tokens=SPECIALS,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  path = tmp_path_factory.mktemp('tok') / 'tokenizer.json'
  tok.save(str(path))
  return path


def hf_tok(tokenizer_json, tmp_path, config):
  shutil.copy(tokenizer_json, tmp_path / 'tokenizer.json')
  shutil.copy(CONFIGS / config, tmp_path / 'tokenizer_config.json')
  return tok_lib.load(str(tmp_path))


@pytest.mark.parametrize('config', ALL)
def test_hf_tokenizer_reads_published_config(tokenizer_json, tmp_path,
                                             config):
  tok = hf_tok(tokenizer_json, tmp_path, config)
  want = published(config)
  assert tok.chat_template.template == want.template
  assert tok.chat_template.special_tokens == want.special_tokens
  assert tok.bos_token == want.special_tokens.get('bos_token')
  assert tok.eos_token == want.special_tokens['eos_token']
  assert tok.eos_id == tok.token_to_id(tok.eos_token)
  assert (tok.bos_id is None) == (tok.bos_token is None)


def test_hf_tokenizer_without_template(tokenizer_json, tmp_path):
  shutil.copy(tokenizer_json, tmp_path / 'tokenizer.json')
  tok = tok_lib.load(str(tmp_path))
  assert tok.chat_template is None and tok.bos_token is None
  with pytest.raises(ValueError, match=str(tmp_path / 'tokenizer.json')):
    templates.make_prompter('chat', tok)


def test_encode_prompt_has_one_bos(tokenizer_json, tmp_path):
  tok = hf_tok(tokenizer_json, tmp_path, R1_NEW)
  bos = tok.bos_id
  assert tok.token_to_id(templates.BOS) == bos
  text = templates.render('r1_chat', 'What is 2+2?')
  assert tok.encode(text, add_bos=True)[:2] == [bos, bos]  # the old bug
  for text in (text, templates.render('r1_zero', 'What is 2+2?'),
               templates.make_prompter('chat', tok).render('Hi'), ''):
    ids = tok_lib.encode_prompt(tok, text)
    assert ids[0] == bos and ids.count(bos) == 1, text
    assert tok.decode(ids[1:]) == text.removeprefix(templates.BOS)


def test_encode_prompt_without_bos(tokenizer_json, tmp_path):
  tok = hf_tok(tokenizer_json, tmp_path, QWEN)
  text = templates.make_prompter('chat', tok).render('Hi')
  assert tok_lib.encode_prompt(tok, text) == tok.encode(text)


def test_sentencepiece_has_no_chat_template(tmp_path):
  tok = tok_lib.train_sentencepiece(
      ['What is 2+2? <think> 4 </think> <answer> 4 </answer>'] * 50,
      str(tmp_path / 'sp'), vocab_size=300)
  assert tok.chat_template is None and tok.bos_token == '<s>'
  with pytest.raises(ValueError, match=r"config.template='chat'.*sp.model"):
    templates.make_prompter('chat', tok)
  ids = tok_lib.encode_prompt(tok, templates.render('r1_zero', 'q'))
  assert ids[0] == tok.bos_id and ids.count(tok.bos_id) == 1


def test_explicit_tokens_reach_the_template(tokenizer_json, tmp_path):
  shutil.copy(tokenizer_json, tmp_path / 'tokenizer.json')
  shutil.copy(CONFIGS / QWEN, tmp_path / 'tokenizer_config.json')
  tok = tok_lib.HFTokenizer(str(tmp_path), eos='<|endoftext|>')
  assert tok.eos_token == '<|endoftext|>'
  assert tok.chat_template.special_tokens['eos_token'] == '<|endoftext|>'
  with pytest.raises(ValueError, match=r"bos_token='<nope>'.*vocabulary"):
    tok_lib.HFTokenizer(str(tmp_path), bos='<nope>')
