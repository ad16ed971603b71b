"""TFDS builders; import a module to register its builder with TFDS."""
