"""Data: synthetic tasks, benchmark loaders, JSONL files and templates."""
