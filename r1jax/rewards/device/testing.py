"""A character-level vocabulary for hermetic tests of the device rewards."""
import jax.numpy as jnp
import numpy as np

from r1jax.rewards.device import vocab

PAD, EOS = 0, 1


class CharVocab:
  """Ids 0/1 are <pad>/<eos>; every other token is one character."""

  def __init__(self, extra_chars: str = '\n\t德中文'):
    self.texts = ['<pad>', '<eos>'] + [chr(i) for i in range(32, 127)]
    self.texts += list(extra_chars)
    self._ids = {c: i for i, c in enumerate(self.texts) if i > EOS}

  def encode(self, text: str) -> list[int]:
    return [self._ids[c] for c in text]

  def tags(self) -> vocab.Tags:
    return vocab.Tags.from_encode(self.encode)

  def classes(self):
    return jnp.asarray(vocab.token_classes(self.texts, ignore_ids=[EOS]))

  def batch(self, texts, length: int, eos: bool = False):
    """(tokens_BxT, mask_BxT) right-padded; optional EOS after each text."""
    tokens_BxT = np.full((len(texts), length), PAD, np.int32)
    mask_BxT = np.zeros((len(texts), length), np.int32)
    for i, t in enumerate(texts):
      ids = (self.encode(t) + ([EOS] if eos else []))[:length]
      tokens_BxT[i, :len(ids)] = ids
      mask_BxT[i, :len(ids)] = 1
    return jnp.asarray(tokens_BxT), jnp.asarray(mask_BxT)
