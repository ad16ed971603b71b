"""Prompt templates."""
import pytest

from r1jax.data import templates


def test_r1_zero_verbatim():
  want = ('A conversation between User and Assistant. The user asks a '
          'question, and the Assistant solves it. The assistant first thinks '
          'about the reasoning process in the mind and then provides the user '
          'with the answer. The reasoning process and answer are enclosed '
          'within <think> </think> and <answer> </answer> tags, respectively, '
          'i.e., <think> reasoning process here </think> <answer> answer here '
          '</answer>. User: What is 2+2?. Assistant:')
  assert templates.render('r1_zero', 'What is 2+2?') == want


def test_r1_chat_opens_think():
  got = templates.render('r1_chat', 'Hi')
  assert got == '<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n'
  assert templates.think_opened('r1_chat')
  assert not templates.think_opened('r1_zero')


def test_math_suffix():
  got = templates.render('r1_chat_math', 'Find x. ')
  assert got.endswith('Find x.\nPlease reason step by step, and put your '
                      'final answer within \\boxed{}.<｜Assistant｜><think>\n')


def test_multichoice():
  got = templates.multichoice_question('Q?', ['w', 'x', 'y', 'z'])
  assert got.startswith("Answer the following multiple choice question. The "
                        "last line of your response should be of the "
                        "following format: 'Answer: $LETTER'")
  assert got.endswith('Q?\n\nA) w\nB) x\nC) y\nD) z')


def test_unknown_template_names_allowed():
  with pytest.raises(ValueError, match='r1_zero'):
    templates.render('nope', 'q')
