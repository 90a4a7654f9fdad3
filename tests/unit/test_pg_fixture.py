"""The PostgreSQL test fixture's own decisions (tests/pg.py): which server it runs, and what
happens where there is none."""

from __future__ import annotations

import os
import select
import socket
from pathlib import Path

import pytest

from tests.pg import find_bin_dir, require_bin_dir, start_server


def test_the_newest_installed_postgresql_is_chosen(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "pg_ctl").touch()

    assert find_bin_dir(f"{tmp_path}/*/bin/pg_ctl", path="") == tmp_path / "15" / "bin"


def test_none_installed_and_none_on_path_is_none(tmp_path: Path) -> None:
    assert find_bin_dir(f"{tmp_path}/*/bin/pg_ctl", path=str(tmp_path)) is None


def test_without_postgresql_a_developer_is_told_why_the_tests_are_skipped() -> None:
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        require_bin_dir(None, {})


@pytest.mark.parametrize("ci", ["true", "1"])
def test_without_postgresql_ci_fails(ci: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="CI must run these tests"):
        require_bin_dir(None, {"CI": ci})


def test_a_found_server_is_used_in_ci_too() -> None:
    assert require_bin_dir(Path("/opt/pg/bin"), {"CI": "true"}) == Path("/opt/pg/bin")


def test_a_taken_port_is_retried_and_removal_leaves_nothing_running() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = start_server(port=taken.getsockname()[1])
        try:
            assert server.port != taken.getsockname()[1]
            assert server.sql("SELECT rolname FROM pg_roles WHERE rolname = 'archiver'").strip() == "archiver"
            postmaster = os.pidfd_open(int((server.data / "postmaster.pid").read_text().split()[0]))
        finally:
            server.remove()

    assert not server.root.exists()
    # A process's pidfd becomes readable when it exits (it may still be on its way out).
    assert select.select([postmaster], [], [], 10)[0] == [postmaster]
    os.close(postmaster)
