"""The example notebooks run: every cell executes in a real Jupyter kernel (nbclient + ipykernel),
and the results show themselves as HTML tables and inline images, with no print."""

import base64
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


def _executed(path: Path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # the kernel imports this checkout's backpropcli, as the tests do (the checkout before site-packages)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    return notebook


def _outputs(notebook) -> list[dict]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_there_is_an_example_notebook_and_it_is_stored_without_outputs():
    """Outputs are made by running it, never stored: a stored one could be stale."""
    import nbformat

    assert NOTEBOOKS
    for path in NOTEBOOKS:
        assert not _outputs(nbformat.read(path, as_version=4)), f"{path.name}: clear its outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_runs_and_shows_tables_and_an_image(path):
    notebook = _executed(path)
    outputs = _outputs(notebook)
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, "\n".join(f"{o.ename}: {o.evalue}" for o in errors)
    shown = [o.data for o in outputs if o.output_type in ("execute_result", "display_data")]
    tables = [d["text/html"] for d in shown if "<table" in d.get("text/html", "")]
    images = [base64.b64decode(d["image/png"]) for d in shown if "image/png" in d]
    assert len(tables) >= 3, "the results show themselves as HTML tables"
    assert images and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images), "a picture inline"
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"
                and "Traceback" in o.text]
