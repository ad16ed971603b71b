"""configs/distill.py carries R1's distillation settings with their units:
learning rate per student [R1v2 Table 6], 2 epochs (the paper's 2-3), 64
packed sequences of 32,768 tokens per optimizer update, cosine to 0.1x;
open-r1's as a variant; and the epochs become optimizer updates from the
data (sft.total_steps)."""
import types

import pytest

from configs import distill
from r1jax.trainers import sft

# R1v2 Table 6 / the R1 README, independently of configs/distill.py.
TABLE_6 = {"qwen2.5-math-1.5b": 1e-4, "qwen2.5-math-7b": 8e-5,
           "qwen2.5-14b": 7e-5, "qwen2.5-32b": 6e-5, "llama-3.1-8b": 5e-5,
           "llama-3.3-70b-instruct": 2e-5}


@pytest.mark.parametrize("student,lr", sorted(TABLE_6.items()))
def test_paper_settings(student, lr):
  c = distill.get_config(student)
  assert c.stage == "sft" and c.optim.lr == lr
  assert c.epochs == 2  # passes over the data, not steps
  assert (c.data.batch_size, c.data.seq_len) == (64, 32768)  # per update
  assert (c.optim.schedule, c.optim.final_lr_fraction) == ("cosine", 0.1)
  assert c.data.microbatches >= 1


def test_open_r1_variant():
  c = distill.get_config("qwen2.5-math-7b,open_r1")
  assert (c.optim.lr, c.epochs, c.data.batch_size, c.optim.clip_norm) == (
      4e-5, 5, 128, 0.2)


def test_unknown_student_is_an_error():
  with pytest.raises(ValueError, match="name one student"):
    distill.get_config("qwen3-0.6b")


def test_epochs_become_optimizer_updates():
  c = distill.get_config("qwen2.5-math-1.5b")
  data = types.SimpleNamespace(num_batches_per_epoch=7)
  assert sft.total_steps(c, data) == 14
  c.epochs = 2.5
  assert sft.total_steps(c, data) == 18  # whole batches, rounded up
  c.epochs = 0.0
  assert sft.total_steps(c, data) == c.steps
