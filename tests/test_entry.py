"""The `coordconv` script without the experiments extra: one line naming the extra, exit 1."""

from __future__ import annotations

import sys

import pytest

from coordconv import _entry


def test_missing_extra_names_it_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "coordconv.experiments.cli", raising=False)
    monkeypatch.setitem(sys.modules, "typer", None)  # makes `import typer` fail
    with pytest.raises(SystemExit) as exit_info:
        _entry.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "coordconv: the command line needs the 'experiments' extra (typer is missing): "
        "pip install 'torch-coordconv[experiments]'"
    ]


def test_other_import_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "coordconv.experiments.cli", raising=False)
    monkeypatch.setitem(sys.modules, "coordconv.experiments", None)
    monkeypatch.setitem(sys.modules, "typer", None)
    monkeypatch.setattr(_entry, "_EXTRA_MODULES", set())
    with pytest.raises(ModuleNotFoundError):
        _entry.main()
