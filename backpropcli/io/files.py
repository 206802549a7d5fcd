"""Files in and out: reads with a byte cap, writes that are atomic, so a reader
never sees half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from backpropcli.errors import OutputError


def read_capped(path: str | os.PathLike, limit: int) -> bytes:
    """The file's bytes, or OverflowError past ``limit``.

    The cap is enforced while reading, not from ``st_size``, which is 0 for
    /dev/zero, pipes and other files whose size is only known at the end.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OverflowError(limit)
    return data


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets 0666 less the umask, as open() would."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def prepare_dir(path: str | os.PathLike) -> Path:
    """Create the output folder (and parents) or fail with an OutputError."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable")
    return folder


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Let ``write`` fill a temporary file beside ``path``, then rename it into place.

    The rename is atomic on POSIX: an existing file is replaced whole or not at
    all, and an interruption (Ctrl-C, a crash) leaves no partial file behind.
    """
    target = Path(path)
    tmp = None
    try:
        # created and closed inside the try: a signal between the two must not leave it behind
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        tmp = Path(tmp_name)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return target


def write_text(path: str | os.PathLike, text: str) -> Path:
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write_atomic(path, write)


class Staging:
    """A run's files are written into a hidden temporary folder inside ``out`` and moved
    into place together at the end (``publish``), under an exclusive lock on ``out``.

    So an interrupted run leaves nothing (the folder is removed), and runs writing
    into the same folder at once each leave a consistent set: the lock orders the
    moves, so a file of one run never sits beside another run's version of its
    sibling. Interrupts are held back while the files move (a few renames).
    """

    def __init__(self, out: str | os.PathLike):
        self.out = prepare_dir(out)
        self.folder = self.out

    def __enter__(self) -> Staging:
        from backpropcli.io.streams import SIGNALS

        try:
            with SIGNALS:  # a signal held during mkdtemp is raised as this block ends, still in
                # __enter__, where __exit__ would not run: the folder is removed here instead
                try:
                    self.folder = Path(tempfile.mkdtemp(prefix=".backprop-", suffix=".tmp", dir=self.out))
                except OSError as exc:
                    raise OutputError(f"cannot write into {self.out}: {exc.strerror or exc}") from None
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        from backpropcli.io.streams import SIGNALS

        if self.folder == self.out:  # never created
            return
        with SIGNALS:  # a second signal must not cut the clean-up short
            shutil.rmtree(self.folder, ignore_errors=True)

    def publish(self, paths: list[Path]) -> dict[Path, Path]:
        """Move the staged files into ``out``; returns staged path -> final path."""
        import fcntl

        from backpropcli.io.streams import SIGNALS

        moved = {}
        with SIGNALS:  # a signal now is raised once every file is in place
            fd = os.open(self.out, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                for staged in paths:
                    final = self.out / Path(staged).relative_to(self.folder)
                    try:
                        if final.exists():  # an existing file keeps its mode
                            os.chmod(staged, _mode_for(final))
                        os.replace(staged, final)
                    except OSError as exc:
                        raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from None
                    moved[Path(staged)] = final
            finally:
                os.close(fd)  # releases the lock
        return moved
