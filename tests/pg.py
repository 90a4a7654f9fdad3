"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temp folder.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then belongs to the
`postgres` system user (the Debian package makes it), or to a user made here when there is
none, and `initdb`/`pg_ctl` run as that user through `runuser`. The server listens on a free
127.0.0.1 port and on a socket in its own folder; TCP logins need a password (scram), so a
wrong one is refused as it would be on a real server; the fixture's own statements go over
the socket as the superuser, through `psql` (no driver of ours is involved in setting up).

Without PostgreSQL the tests that need it are skipped on a developer machine with the reason,
and fail in CI (`CI=true`), where .ci/run installs it.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROLE, PASSWORD = "archiver", "secret"
# Can log in, but owns nothing and may not create anything: "a database the user cannot create tables in".
VISITOR = "visitor"
_SUPERUSER = "postgres"
_UNPRIVILEGED = "feed-archiver-pg"  # made only when root has no `postgres` user to run the server as


def find_bin_dir(installed: str = "/usr/lib/postgresql/*/bin/pg_ctl", path: str | None = None) -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them off PATH), else pg_ctl on PATH."""
    found = sorted(glob.glob(installed), key=lambda p: _version(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl", path=path)
    return Path(on_path).resolve().parent if on_path else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())  # "9.6" < "15"


def require_bin_dir(found: Path | None, environ: Mapping[str, str]) -> Path:
    """`found`, or the test stops: skipped on a developer's machine, failed in CI (which must run it)."""
    if found is not None:
        return found
    reason = ("PostgreSQL is not installed (no pg_ctl in /usr/lib/postgresql/*/bin or on PATH): "
              "apt-get install postgresql")
    if environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(reason + " (CI must run these tests)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> str | None:
    """The user to run the server as, or None for "as we are" (not root)."""
    if os.geteuid() != 0:
        return None
    for name in (_SUPERUSER, _UNPRIVILEGED):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _UNPRIVILEGED],
                   check=True, capture_output=True)
    return _UNPRIVILEGED


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path  # the temp folder: data/, the socket, the log
    port: int
    user: str | None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, role: str = ROLE, password: str = PASSWORD) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def _run(self, *args: str) -> str:
        done = subprocess.run(self._as_owner(*args), capture_output=True, text=True, cwd=self.root)
        if done.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}\n{log}")
        return done.stdout

    def start(self) -> None:
        self.init()
        for attempt in range(3):
            try:
                self.launch()
                break
            except RuntimeError:
                # The free port may have been taken between our probe and the server's bind.
                if attempt == 2 or "could not bind" not in self.log.read_text(errors="replace"):
                    raise
                self.log.unlink()
                self.port = _free_port()
        self.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
        self.sql(f"CREATE ROLE {VISITOR} LOGIN PASSWORD '{PASSWORD}'")

    def init(self) -> None:
        password_file = self.root / "superuser-password"
        password_file.write_text(PASSWORD + "\n")
        self._chown(password_file)
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", _SUPERUSER, "-E", "UTF8",
                  "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                  f"--pwfile={password_file}", "--no-sync")

    def launch(self) -> None:
        # Durability off: a test server's data dies with it, and fsync is most of a commit's time.
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                   "-c log_line_prefix=db=%d,")  # the database on each log line: tests read it
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def stop(self) -> None:
        """Stop the server, keeping its data: `launch()` brings it back on the same port."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server (if it runs) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _chown(self, path: Path) -> None:
        if self.user:
            shutil.chown(path, self.user, self.user)

    def sql(self, statement: str, database: str = "postgres") -> str:
        """One statement as the superuser, over the socket; its rows as psql prints them unaligned."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.root),
             "-p", str(self.port), "-U", _SUPERUSER, "-d", database, "-c", statement],
            capture_output=True, text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{statement}: {done.stderr.strip()}")
        return done.stdout

    def log_lines(self, database: str) -> list[str]:
        """What the server logged about one database."""
        prefix = f"db={database},"
        return [line[len(prefix):] for line in self.log.read_text(errors="replace").splitlines()
                if line.startswith(prefix)]

    def create_database(self) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_server(port: int | None = None) -> PostgresServer:
    bin_dir = require_bin_dir(find_bin_dir(), os.environ)
    user = _server_user()
    # Not under pytest's tmp_path: its folders are 0700 root's, which the server user cannot enter.
    # /tmp, not $TMPDIR: the server user must reach it, and a socket path has at most 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="feed-archiver-pg-", dir="/tmp" if Path("/tmp").is_dir() else None))
    server = PostgresServer(bin_dir, root, port or _free_port(), user)
    server._chown(root)
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, made on first use, stopped and removed at the end."""
    server = start_server()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database for this test, owned by `archiver`; its postgresql:// URL. Dropped after."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
