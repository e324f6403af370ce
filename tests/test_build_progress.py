"""Progress bars on a build: on a terminal by default, never with --no-progress, never in a pipe."""

from __future__ import annotations

import io

import pytest

from stepinst_data.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("flag, shown", [([], True), (["--no-progress"], False), (["--num-proc", "2"], True)])
def test_bars_on_a_terminal_unless_asked_not_to(tmp_path, monkeypatch, flag, shown):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    args = ["build", "--sample", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *flag]
    assert main(args) == 0
    err = terminal.getvalue()
    assert ("Parsing task files" in err) is shown
    assert ("Writing 9 configurations" in err) is shown
    if shown:  # the bar counts tasks x configurations: the sample's 12 tasks in each of 8 instance configs
        assert "108/108" in err


def test_no_bars_when_stderr_is_not_a_terminal(tmp_path, capsys):
    assert main(["build", "--sample", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "Writing" not in capsys.readouterr().err
