"""Multilingual arithmetic: same problems phrased in en/de/zh."""
from r1jax.data import tasks
from r1jax.data.tasks import multilingual


def test_phrasing():
  steps = [('+', 5), ('*', 3)]
  assert multilingual.phrase('en', 7, steps).startswith(
      'Start with 7, add 5, multiply by 3. What is the result?')
  assert multilingual.phrase('de', 7, steps).startswith(
      'Beginne mit 7, addiere 5, multipliziere mit 3. Was ist das Ergebnis?')
  assert multilingual.phrase('zh', 7, steps).startswith('从7开始，加5，乘以3。')


def test_same_problem_in_each_language():
  exs = {lang: tasks.get('multilingual_arithmetic', lang=lang).generate(0, 4)
         for lang in multilingual.LANGS}
  assert len({e['answer'] for e in exs.values()}) == 1
  assert {e['lang'] for e in exs.values()} == set(multilingual.LANGS)
  # "mixed" draws the language per example.
  mixed = tasks.get('multilingual_arithmetic')
  langs = {mixed.generate(0, i)['lang'] for i in range(30)}
  assert langs == set(multilingual.LANGS)
  assert mixed.generate(0, 2) == mixed.generate(0, 2)
  assert mixed.verify(exs['de']['answer'], exs['de'])
