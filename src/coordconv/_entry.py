"""The ``coordconv`` script: the CLI, or one line naming the extra it needs."""

from __future__ import annotations

import sys

# What the CLI imports beyond the library (the ``experiments`` extra).
_EXTRA_MODULES = {"typer", "rich", "matplotlib", "numpy", "click"}


def main() -> None:
    try:
        from coordconv.experiments.cli import main as cli_main
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            f"coordconv: the command line needs the 'experiments' extra ({err.name} is missing): "
            f"pip install 'torch-coordconv[experiments]'",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    cli_main()
