"""The library's messages as the command line says them: prefixed with the command, filtered by -q, said once."""

from __future__ import annotations

import logging

import pytest

from nas import cli, cli_process


def test_messages_name_the_command_and_leave_the_logger_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("nas")
    before = (list(logger.handlers), logger.level, logger.propagate)
    with cli_process.messages_said("confirm", logging.INFO):
        logging.getLogger("nas.study.lock").warning("took over the study lock of %s", "process 1")
        logging.getLogger("nas.search.run").info("the grid is covered by %d trials", 6)
        logging.getLogger("nas.search.run").debug("not said")
    assert capsys.readouterr().err.splitlines() == [
        "nas confirm: warning: took over the study lock of process 1",
        "nas confirm: the grid is covered by 6 trials",
    ]
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    logging.getLogger("nas.search.run").warning("after the command")
    assert "nas confirm" not in capsys.readouterr().err  # the command's handler is gone


@pytest.mark.parametrize(("flag", "said"), [("-q", ["warning"]), ("-v", ["warning", "info", "debug"])])
def test_quiet_and_verbose_choose_which_messages_are_said(flag, said, capsys: pytest.CaptureFixture[str]) -> None:
    verbosity = cli.build_parser().parse_args(["blocks", flag]).verbosity
    with cli_process.messages_said("search", verbosity):
        for level in ("warning", "info", "debug"):
            getattr(logging.getLogger("nas.search.run"), level)(level)
    lines = capsys.readouterr().err.splitlines()
    assert [line.rpartition(" ")[2] for line in lines] == said


def test_an_error_raised_while_a_stop_unwinds_is_read_as_the_stop(tmp_path) -> None:
    """A SIGTERM (raised as KeyboardInterrupt) inside a library's lock can make the lock's release fail as it unwinds,
    as Optuna's journal lock does when its rename file is gone: ``nas`` then says its one stop line, not a traceback."""
    try:
        try:
            raise KeyboardInterrupt
        finally:
            (tmp_path / "optuna.journal.lock.rename").unlink()  # the release of a lock the interrupt left half-done
    except FileNotFoundError as error:
        assert cli_process.raised_while_stopping(error)
    assert not cli_process.raised_while_stopping(FileNotFoundError("a missing file on its own"))
