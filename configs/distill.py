r"""Distillation: a student SFT-trained on a teacher's rejection-sampled traces.

Three commands: the teacher samples and filters (configs/generate.py), the
student is fine-tuned on what was kept (this file), then evaluated
(configs/eval.py). E.g. R1-Distill-Qwen-1.5B's recipe [R1v2 B.4.3]:

  python -m r1jax.main --config=configs/generate.py \
      --config.init_from=/ckpt/DeepSeek-R1-Distill-Qwen-32B \
      --config.prompts.file=/data/OpenR1-Math-220k/data \
      --config.prompts.loader_kwargs.prompt_field=problem \
      --config.prompts.loader_kwargs.id_field=uuid \
      --config.prompts.question_suffix="Please reason step by step, and put your final answer within \boxed{}." \
      --config.decontaminate.math500=/data/MATH-500/test.jsonl \
      --config.decontaminate.aime2024=/data/aime_2024 \
      --config.target.tokenizer=/ckpt/Qwen2.5-Math-1.5B \
      --config.target.template=chat --workdir=/runs/traces
  python -m r1jax.main --config=configs/distill.py:qwen2.5-math-1.5b \
      --config.init_from=/ckpt/Qwen2.5-Math-1.5B \
      --config.data.train_file=/runs/traces/sft.jsonl --workdir=/runs/student
  python -m r1jax.main --config=configs/eval.py:r1 \
      --config.init_from=/runs/student ... --workdir=/runs/student_eval

Variants: a student of R1's Table 6 (the default qwen2.5-math-1.5b,
qwen2.5-math-7b, qwen2.5-14b, qwen2.5-32b, llama-3.1-8b,
llama-3.3-70b-instruct) picks its paper learning rate; `,open_r1` (e.g.
`:qwen2.5-math-7b,open_r1`) uses open-r1's OpenR1-Distill-7B settings
instead. The teacher may be of another family: traces are text, rendered in
the student's chat template by generate's config.target, and `sft` appends
the student tokenizer's EOS to every completion (open-r1 had to pass
`--eos_token '<|im_end|>'` by hand for this).

Sources: [R1v1 2.4, R1v2 B.4.3, Table 6] SFT only, 2-3 epochs, cosine decay
to 0.1x, context 32,768, batch 64, the learning rates below; open-r1
recipes/OpenR1-Distill-7B: lr 4e-5 cosine to 0.1x, 5 epochs, batch 128,
32k, no packing, gradient clipping 0.2.
"""

import ml_collections

from configs import sft as sft_config
from r1jax import configlib

# Student -> initial learning rate [R1v2 Table 6; R1 README].
PAPER_LR = {
    "qwen2.5-math-1.5b": 1e-4,
    "qwen2.5-math-7b": 8e-5,
    "qwen2.5-14b": 7e-5,
    "qwen2.5-32b": 6e-5,
    "llama-3.1-8b": 5e-5,
    "llama-3.3-70b-instruct": 2e-5,
}
# Sequences per optimizer update and tokens per sequence [R1v2 B.4.3].
PAPER_BATCH, PAPER_SEQ_LEN = 64, 32768
# Passes over the data: the paper says 2-3 [R1v2 B.4.3]; we take 2.
PAPER_EPOCHS = 2.0
OPEN_R1 = dict(lr=4e-5, epochs=5.0, batch_size=128, clip_norm=0.2)


def get_config(arg=None):
  items = [x for x in (arg or "qwen2.5-math-1.5b").split(",") if x]
  open_r1 = "open_r1" in items
  students = [x for x in items if x != "open_r1"]
  if len(students) != 1 or students[0] not in PAPER_LR:
    raise ValueError(f"configs/distill.py:{arg}: name one student of "
                     f"{sorted(PAPER_LR)}, optionally with ',open_r1'")
  student = students[0]
  c = sft_config.get_config("sft")
  c.student = student
  # The student checkpoint (a Hugging Face directory), REQUIRED.
  c.init_from = ""
  # Real models: bfloat16 weights and compute.
  c.model.param_dtype = c.model.dtype = "bfloat16"
  # Full rematerialisation: 32k-token rows do not fit otherwise.
  c.model.remat = "full"
  # The teacher's kept traces: generate's sft.jsonl ({prompt, completion};
  # loss on the completion only).
  c.data.train_file = ""
  # Packed rows (segment ids keep examples apart) per optimizer update,
  # and tokens per row.
  c.data.batch_size = PAPER_BATCH
  c.data.seq_len = PAPER_SEQ_LEN
  c.epochs = PAPER_EPOCHS
  c.optim = configlib.optim_block(lr=PAPER_LR[student], warmup_steps=0,
                                  schedule="cosine")
  c.optim.final_lr_fraction = 0.1  # cosine to 0.1x [R1v2 B.4.3]
  c.optim.weight_decay = 0.0
  if open_r1:
    c.optim.lr = OPEN_R1["lr"]
    c.epochs = OPEN_R1["epochs"]
    c.data.batch_size = OPEN_R1["batch_size"]
    c.optim.clip_norm = OPEN_R1["clip_norm"]
  c.checkpoint.export_hf = True
  return c
