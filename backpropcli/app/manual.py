"""`backprop manual FILE.py`: load the file's inputs, forward and backward (importing runs its
code), judge the backward step by step, then write the figures (--plot) and the explorer page
(--html)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from backpropcli.app.views import figures_among, staged

if TYPE_CHECKING:
    from backpropcli.doctor.manual import ManualResult

DEFAULT_TIMEOUT = 60.0  # seconds the user's code may run while importing, and again while being judged


@dataclass(frozen=True)
class ManualRequest:
    file: str
    plot: bool = False
    out: Path = Path("outputs")
    html: Path | None = None  # the explorer page's path
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class ManualRun:
    result: ManualResult
    files: list[Path] = field(default_factory=list)  # every file written, in order

    @property
    def plots(self) -> list[Path]:
        return figures_among(self.files)


def figures(result: ManualResult, folder: Path, name: str) -> list[Path]:
    """Each step's error on a log axis (alone and end to end); the root cause's heatmaps."""
    from backpropcli.present.figures import manual as pictures

    files = [pictures.step_errors(result, folder / f"manual-{name}-errors.png")]
    if result.first_wrong is not None:
        root = pictures.root_cause(result, folder / f"manual-{name}-{result.first_wrong}.png")
        if root is not None:
            files.append(root)
    return files


def manual(request: ManualRequest) -> ManualRun:
    """Judge the file's backward; write what --plot and --html ask for."""
    from backpropcli.app.views import stem
    from backpropcli.doctor import manual as manuals
    from backpropcli.doctor import sandbox
    from backpropcli.errors import InputError

    with sandbox.guarded(f"importing {request.file}", request.timeout, InputError):
        inputs, forward, backward = manuals.load(request.file)
    with sandbox.guarded(f"checking {request.file}", request.timeout, InputError):
        result = manuals.check_manual(forward, backward, inputs, file=request.file, graph=request.html is not None)
    name = stem(Path(request.file).stem)

    def write(folder: Path) -> tuple[list[Path], None]:
        return (figures(result, folder, name) if request.plot else []), None

    files, _ = staged(request.out, request.plot, write)
    if request.html is not None:
        files.append(page(result, request.html))
    return ManualRun(result, files)


def page(result: ManualResult, path: Path) -> Path:
    """The explorer page of the true graph, each node with the student's gradient beside the truth."""
    from backpropcli.doctor.manual_trace import trace_of
    from backpropcli.io.files import prepare_dir
    from backpropcli.present import explorer
    from backpropcli.present.terminal.manual import student_notes

    prepare_dir(path.parent)
    return explorer.write(path, trace_of(result), result.loss, student_notes(result))

