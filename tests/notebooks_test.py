"""notebooks/r1_zero_colab.ipynb runs top to bottom (shortened) and shows
its curves and both models' held-out scores."""
import os

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(__file__))


def test_colab_notebook_runs_and_plots(tmp_path, monkeypatch):
  nb = nbformat.read(os.path.join(ROOT, "notebooks", "r1_zero_colab.ipynb"),
                     as_version=4)
  monkeypatch.setenv("R1JAX_NOTEBOOK_CI", "1")
  monkeypatch.setenv("PYTHONPATH", ROOT)
  # The kernel sees one CPU device, as a Colab CPU runtime does (not the
  # 8 simulated devices of the other tests).
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  NotebookClient(nb, timeout=900, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  images = [o for cell in nb.cells if cell.cell_type == "code"
            for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]
  assert len(images) >= 1
  printed = "".join(o.get("text", "") for cell in nb.cells
                    if cell.cell_type == "code"
                    for o in cell.get("outputs", []))
  assert "eval/pass@1" in printed  # the held-out curve during RL
  assert "base  pass@1" in printed and "rl    pass@1" in printed
