"""The `backprop` command line. Each command: options -> config -> one app call -> render -> exit.

One module per command registers it on the Typer app (cli/app.py); what they share lives in
cli/common.py. Heavy modules (torch, matplotlib, mpmath) are imported inside the commands so
that `backprop --help` stays fast.
"""

# each module registers its command; --help lists them in this order
from backpropcli.cli import regress  # noqa: F401, I001
from backpropcli.cli import derivatives  # noqa: F401
from backpropcli.cli import check  # noqa: F401
from backpropcli.cli import manual  # noqa: F401
from backpropcli.cli import report  # noqa: F401
from backpropcli.cli.app import app
from backpropcli.io import streams


def main() -> None:
    streams.prepare_process()  # signals, ASCII fallback for a non-UTF-8 stdout, matplotlib's backend
    try:
        app()
    finally:
        streams.flush_at_exit()
