"""Finding the final answer in a completion (host side, pure Python).

Rules, shared by all accuracy checks:
1. Only the text after the last `</think>` is searched, so guesses made
   while thinking do not count.
2. If that text has `<answer>` tags, exactly one well-formed
   `<answer>...</answer>` block must exist; several blocks, or an unclosed
   or nested one, give no answer (hedging across blocks earns nothing).
3. Otherwise the content of the last `\\boxed{...}` is the answer.
"""
import re

THINK_CLOSE = '</think>'
ANSWER_OPEN, ANSWER_CLOSE = '<answer>', '</answer>'
_BOXED = re.compile(r'\\(?:boxed|fbox)\s*\{')


def final_section(completion: str) -> str:
  """The text after the last `</think>` (the whole text without one)."""
  i = completion.rfind(THINK_CLOSE)
  return completion if i < 0 else completion[i + len(THINK_CLOSE):]


def answer_block(text: str) -> str | None:
  """Content of the single `<answer>` block; None if absent or malformed."""
  n_open, n_close = text.count(ANSWER_OPEN), text.count(ANSWER_CLOSE)
  if n_open != 1 or n_close != 1:
    return None
  start = text.index(ANSWER_OPEN) + len(ANSWER_OPEN)
  end = text.index(ANSWER_CLOSE)
  return text[start:end] if end >= start else None


def last_boxed(text: str) -> str | None:
  """Content of the last `\\boxed{...}` with balanced braces, or None."""
  starts = [m.end() for m in _BOXED.finditer(text)]
  # Only the last few candidates: keeps hostile inputs (thousands of
  # unclosed boxes) linear in the text length.
  for start in reversed(starts[-8:]):
    depth = 1
    for j in range(start, len(text)):
      if text[j] == '{':
        depth += 1
      elif text[j] == '}':
        depth -= 1
        if depth == 0:
          return text[start:j]
  return None


def extract_answer(completion: str) -> str | None:
  """The final answer text of a completion, or None (see module rules)."""
  text = final_section(completion)
  if ANSWER_OPEN in text or ANSWER_CLOSE in text:
    ans = answer_block(text)
  else:
    ans = last_boxed(text)
  if ans is None or not ans.strip():
    return None
  return ans.strip()


def think_section(completion: str, think_opened: bool = False) -> str:
  """The chain of thought: text between `<think>` and `</think>`.

  With `think_opened` the template already emitted `<think>`, so the CoT
  starts at the beginning of the completion. Without a closing tag the
  whole rest of the completion counts as CoT.
  """
  text = completion
  if not think_opened:
    i = text.find('<think>')
    text = text[i + len('<think>'):] if i >= 0 else text
  j = text.find(THINK_CLOSE)
  return text if j < 0 else text[:j]
