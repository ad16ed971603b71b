"""Stage hand-offs: every workdir that holds a model holds its tokenizer;
generate, sft and grpo start from an r1jax workdir or from its Hugging Face
export through one option (config.init_from); transformers loads the
export's tokenizer; a wrong directory is named for what it looks like and
what it lacks."""
import json
import os

import jax
import pytest

from configs import generate as generate_config
from r1jax import checkpoint as ckpt_lib
from r1jax import tokenizers as tok_lib
from r1jax.models import init_params, presets
from r1jax.trainers import generate, grpo, sft
from tests.trainers import util

TEXT = ("Compute (3 + 4) * 2. <think> 3+4=7, 7*2=14 </think> "
        "<answer> 14 </answer>\n  two spaces, é")


def _export(workdir: str, out: str) -> str:
  cfg, params = ckpt_lib.init_from(workdir)
  ckpt_lib.export_hf(out, cfg, params, tokenizer=workdir)
  return out


def _assert_transformers_loads(export: str, ours: tok_lib.Tokenizer):
  """The export's model and tokenizer load in transformers. (Its
  AutoTokenizer maps model_type qwen2, our presets' family, to
  Qwen2Tokenizer whatever the files say: the tokenizer files are read
  with PreTrainedTokenizerFast; AutoTokenizer is checked on a llama export
  below.)"""
  transformers = pytest.importorskip("transformers")
  theirs = transformers.PreTrainedTokenizerFast.from_pretrained(export)
  assert theirs.encode(TEXT, add_special_tokens=False) == ours.encode(TEXT)
  assert theirs.eos_token_id == ours.eos_id
  model = transformers.AutoModelForCausalLM.from_pretrained(export)
  assert model.config.vocab_size >= ours.vocab_size


def _generate(tmp_path, workdir: str, **kw) -> list[dict]:
  prompts = tmp_path / "prompts.jsonl"
  prompts.write_text("".join(json.dumps({"prompt": p}) + "\n"
                             for p in ("Compute 2 + 3.", "Compute 4 * 5.")))
  c = generate_config.get_config("r1")
  c.prompts.file, c.prompts.template = str(prompts), "plain"
  c.prompts.n, c.prompts.max_new_tokens, c.batch_rows = 2, 6, 8
  c.model.dtype = c.model.param_dtype = "float32"
  c.filters = ("dedupe",)
  c.update_from_flattened_dict(kw)
  generate.run(c, workdir)
  with open(os.path.join(workdir, "generations.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  """sft (tokenizer trained there) -> grpo from its workdir -> HF export."""
  root = tmp_path_factory.mktemp("chain")
  base, rl = str(root / "base"), str(root / "rl")
  sft.run(util.sft_config_tiny(steps=2, vocab_size=400), base)
  grpo.run(util.grpo_config("", **{"init_from": base, "steps": 2}), rl)
  return base, rl, _export(rl, str(root / "rl_hf"))


def test_workdirs_hold_their_tokenizer(chain):
  base, rl, export = chain
  want = tok_lib.load(base)
  for d in (rl, export):  # copied from init_from, then into the export
    assert os.path.exists(os.path.join(d, "tokenizer.model"))
    assert tok_lib.load(d).encode(TEXT) == want.encode(TEXT)
  _assert_transformers_loads(export, want)


def test_generate_from_a_workdir_equals_from_its_export(tmp_path, chain):
  _, rl, export = chain
  from_workdir = _generate(tmp_path, str(tmp_path / "a"), init_from=rl)
  from_export = _generate(tmp_path, str(tmp_path / "b"), init_from=export)
  assert from_workdir == from_export  # same params, tokenizer and seed
  assert len(from_workdir) == 2 * 2
  # The deprecated alias still works.
  alias = _generate(tmp_path, str(tmp_path / "c"), **{"model.hf_dir": export})
  assert alias == from_export


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_train_from_an_hf_export(tmp_path, chain, stage):
  _, _, export = chain
  w = str(tmp_path / stage)
  if stage == "sft":
    sft.run(util.sft_config_tiny(steps=1, init_from=export), w)
  else:
    grpo.run(util.grpo_config("", init_from=export, steps=1), w)
  assert tok_lib.load(w).encode(TEXT) == tok_lib.load(export).encode(TEXT)
  assert ckpt_lib.model_source(w) == "workdir"


def test_hf_tokenizer_travels_with_the_model(tmp_path):
  """A tokenizer.json (Qwen-style) given by config.tokenizer is copied into
  the workdir and into the export, which transformers loads."""
  tok = util.hf_tokenizer(str(tmp_path / "tok"))
  w = str(tmp_path / "w")
  sft.run(util.sft_config_tiny(steps=1, tokenizer=str(tmp_path / "tok")), w)
  for name in ("tokenizer.json", "tokenizer_config.json"):
    assert os.path.exists(os.path.join(w, name)), name
  export = _export(w, str(tmp_path / "hf"))
  assert tok_lib.load(export).encode(TEXT) == tok.encode(TEXT)
  _assert_transformers_loads(export, tok)


def test_autotokenizer_reads_a_sentencepiece_export(tmp_path):
  """transformers' AutoTokenizer builds our SentencePiece model (BPE, byte
  fallback, split digits, no dummy prefix, R1 tags as single pieces) from
  a llama export's files: the same ids and texts on a range of inputs."""
  transformers = pytest.importorskip("transformers")
  tok = tok_lib.load(util.tokenizer(str(tmp_path)))
  cfg = presets.get("tiny", family="llama", qkv_bias=False, vocab_size=384)
  export = str(tmp_path / "hf")
  ckpt_lib.export_hf(export, cfg, init_params(cfg, jax.random.key(0)),
                     tokenizer=tok)
  theirs = transformers.AutoTokenizer.from_pretrained(export)
  for text in (TEXT, " leading", "tabs\tand\nnewlines\n", "12345 - 678",
               "<think></think><answer>-3</answer>", "🙂 中文", ""):
    ids = tok.encode(text)
    assert theirs.encode(text, add_special_tokens=False) == ids, text
    assert theirs.decode(ids) == tok.decode(ids), text
  assert (theirs.bos_token_id, theirs.eos_token_id, theirs.pad_token_id) == (
      tok.bos_id, tok.eos_id, tok.pad_id)


def test_wrong_directories_say_what_they_look_like(tmp_path):
  gen = str(tmp_path / "gen")  # a workdir without a model
  os.makedirs(gen)
  with open(os.path.join(gen, "config.json"), "w") as f:
    json.dump({"stage": "generate"}, f)
  with pytest.raises(ValueError, match=r"config\.init_from: .*gen looks like "
                     r"an r1jax workdir \(config\.json, stage 'generate'\) "
                     r"but has no model_config\.json"):
    _generate(tmp_path, str(tmp_path / "w1"), init_from=gen)
  with pytest.raises(ValueError, match=r"config\.init_from: .*looks like an "
                     "r1jax workdir"):  # before anything compiles
    grpo.validate(util.grpo_config("", init_from=gen))
  os.makedirs(os.path.join(gen, "rl"))
  ckpt_lib.save_model_config(os.path.join(gen, "rl"), presets.get("tiny"))
  with pytest.raises(ValueError, match="these subdirectories hold a model: "
                     "rl/"):
    ckpt_lib.model_source(gen)
  os.remove(os.path.join(gen, "config.json"))  # a folder of workdirs
  with pytest.raises(ValueError, match=r"neither .*; these subdirectories "
                     "hold a model: rl/"):
    ckpt_lib.model_source(gen)
  hf = str(tmp_path / "hf")  # config.json, no weights
  os.makedirs(hf)
  with open(os.path.join(hf, "config.json"), "w") as f:
    json.dump({"model_type": "qwen2"}, f)
  with pytest.raises(ValueError, match=r"looks like a Hugging Face model "
                     r"directory \(config\.json\) but has no "
                     r"model\.safetensors.*needs config\.json and "
                     r"model\.safetensors"):
    ckpt_lib.init_from(hf)
  run = str(tmp_path / "run")  # a run that saved no checkpoint yet
  ckpt_lib.save_model_config(run, presets.get("tiny"))
  os.makedirs(os.path.join(run, "checkpoints"))
  with pytest.raises(ValueError, match="has no checkpoint in checkpoints/"):
    ckpt_lib.model_source(run)
  with pytest.raises(ValueError, match="not found"):
    ckpt_lib.model_source(str(tmp_path / "nowhere"))


def test_init_from_without_a_tokenizer_names_the_field(tmp_path, chain):
  _, rl, _ = chain
  bare = str(tmp_path / "bare")  # an export without tokenizer files
  cfg, params = ckpt_lib.init_from(rl)
  ckpt_lib.export_hf(bare, cfg, params)
  with pytest.raises(ValueError, match=r"config\.init_from=.*holds no "
                     r"tokenizer .*set config\.tokenizer"):
    _generate(tmp_path, str(tmp_path / "w"), init_from=bare)
  with pytest.raises(ValueError, match=r"config\.init_from=.*holds no "
                     "tokenizer"):
    grpo.run(util.grpo_config("", init_from=bare, steps=1),
             str(tmp_path / "g"))
  # Given explicitly, the same export works.
  rows = _generate(tmp_path, str(tmp_path / "w2"), init_from=bare,
                   tokenizer=os.path.join(rl, "tokenizer.model"))
  assert len(rows) == 2 * 2
