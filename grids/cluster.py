"""The embedded PostGIS cluster: a project-local PostgreSQL started from the machine's own binaries.

Why: a dispatch centre's IT person (or CI) types `make demo` on a fresh machine and gets a working
database without hand-made setup. The cluster lives under `var/postgres` and listens on 127.0.0.1 only.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the `postgres` system
user. Its files then live under /var/lib/gridlink/<checkout-hash> (a checkout under a private folder
such as /root is not reachable by `postgres`) and `var/postgres` is a symlink to them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from grids.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "gridlink"
SUPERUSER = "postgres"


def _checkout_hash(root: Path) -> str:
    return hashlib.sha1(str(root).encode()).hexdigest()[:12]


def default_port(root: Path = PROJECT_ROOT) -> int:
    """A port derived from the checkout path, so two checkouts (a working copy and CI's clone) never collide."""
    return 54400 + int(_checkout_hash(root), 16) % 500


def find_bindir() -> Path:
    """The newest server binaries: `pg_config --bindir` if it has `postgres`, else /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(Path(out))
    installed = Path("/usr/lib/postgresql").glob("*/bin")
    candidates.extend(sorted(installed, key=lambda p: int(p.parent.name), reverse=True))
    for bindir in candidates:
        if (bindir / "postgres").exists() and (bindir / "initdb").exists():
            return bindir
    raise ConfigError(
        "no PostgreSQL server binaries found (looked at pg_config --bindir and /usr/lib/postgresql/*/bin); "
        "install them with: apt-get install postgresql postgresql-$(major)-postgis-3, or run `make setup` as root"
    )


@dataclass(frozen=True)
class Cluster:
    """Paths and settings of one checkout's embedded cluster."""

    root: Path
    port: int

    @classmethod
    def for_project(cls, root: Path = PROJECT_ROOT) -> Cluster:
        port = int(os.environ.get("GRIDLINK_DB_PORT") or default_port(root))
        return cls(root=root, port=port)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def link(self) -> Path:
        return self.root / "var" / "postgres"

    @property
    def home(self) -> Path:
        """Where the cluster's files really are (see the module docstring for why root differs)."""
        if self.as_root:
            return Path("/var/lib/gridlink") / _checkout_hash(self.root)
        return self.link

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def url(self, dbname: str = DB_NAME) -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    # --- running commands as the cluster's owner -------------------------------------------------
    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        user = SUPERUSER if self.as_root else None
        proc = subprocess.run(args, capture_output=True, text=True, user=user, cwd="/")
        if check and proc.returncode != 0:
            raise ConfigError(f"{Path(args[0]).name} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _prepare_dirs(self) -> None:
        self.link.parent.mkdir(parents=True, exist_ok=True)
        if self.as_root and not self.link.is_symlink():
            if self.link.exists():
                shutil.rmtree(self.link)
            self.home.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(self.home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.as_root:
            for path in (self.home, self.socket_dir):
                shutil.chown(path, SUPERUSER, SUPERUSER)
            self.home.chmod(0o700)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb with trust auth bound to loopback; idempotent."""
        self._prepare_dirs()
        if self.initialised():
            return
        bindir = find_bindir()
        self._run([str(bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--encoding=UTF8",
                   "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=trust"])
        hba = ("local all all trust\n"
               "host all all 127.0.0.1/32 trust\n"
               "host all all ::1/128 trust\n")
        conf = ("listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "synchronous_commit = off\n"
                "max_connections = 100\n"
                "shared_buffers = 256MB\n")
        self._write_owned(self.data_dir / "pg_hba.conf", hba)
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write(conf)

    def _write_owned(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self.as_root:
            shutil.chown(path, SUPERUSER, SUPERUSER)

    def running(self) -> bool:
        if not self.initialised():
            return False
        status = self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "status"], check=False)
        return status.returncode == 0

    def _clear_stale_pid(self) -> None:
        """After an unclean shutdown postmaster.pid may name a PID now used by another program: remove it."""
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        pid = pidfile.read_text().splitlines()[0].strip()
        comm = Path(f"/proc/{pid}/comm")
        if not (comm.exists() and comm.read_text().strip() in {"postgres", "postmaster"}):
            pidfile.unlink()

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Like PostgreSQL itself: connections of our own last run in TIME_WAIT must not count as "taken",
            # while another program listening on the port still does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", self.port))
            except OSError as exc:
                raise ConfigError(
                    f"port {self.port} on 127.0.0.1 is already in use by another program ({exc.strerror}); "
                    "set GRIDLINK_DB_PORT to a free port, or stop that program"
                ) from exc

    def start(self) -> None:
        """Start (initialising first if needed) and create the gridlink database; idempotent."""
        self.init()
        if self.running():
            self._create_database(DB_NAME)
            return
        self._clear_stale_pid()
        self._check_port_free()
        self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                   "-o", f"-p {self.port}", "-w", "-t", "60", "start"])
        self._create_database(DB_NAME)

    def stop(self) -> None:
        if self.running():
            self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        proc = self._run([str(find_bindir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                          SUPERUSER, "-d", dbname, "-tAc", sql])
        return proc.stdout.strip()

    def _create_database(self, dbname: str) -> None:
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'") != "1":
            self.psql(f'CREATE DATABASE "{dbname}"')
