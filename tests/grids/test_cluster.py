"""The embedded cluster starts from nothing, survives a stale pid file, and explains a taken port."""

import shutil
import socket
from pathlib import Path

import pytest

from grids.cluster import Cluster
from grids.errors import ConfigError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def scratch_cluster(tmp_path: Path):
    cluster = Cluster(root=tmp_path, port=_free_port())
    yield cluster
    cluster.stop()
    shutil.rmtree(cluster.home, ignore_errors=True)


def test_up_after_unclean_shutdown_with_stale_pid_file(scratch_cluster: Cluster) -> None:
    scratch_cluster.start()
    assert scratch_cluster.running()
    assert scratch_cluster.psql("SELECT 1 FROM pg_database WHERE datname = 'gridlink'", "postgres") == "1"
    scratch_cluster.stop()
    # An unclean shutdown leaves postmaster.pid naming a PID that no longer runs postgres.
    pidfile = scratch_cluster.data_dir / "postmaster.pid"
    pidfile.write_text(f"999999\n{scratch_cluster.data_dir}\n")
    scratch_cluster.start()
    assert scratch_cluster.running()
    assert scratch_cluster.psql("SELECT 41 + 1") == "42"


def test_port_taken_by_another_program_gives_a_clear_message(scratch_cluster: Cluster) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", scratch_cluster.port))
        squatter.listen()
        with pytest.raises(ConfigError, match=rf"port {scratch_cluster.port} .* in use.*GRIDLINK_DB_PORT"):
            scratch_cluster.start()
    assert not scratch_cluster.running()


def test_cluster_files_are_reachable_by_the_postgres_user_when_root() -> None:
    cluster = Cluster.for_project()
    if cluster.as_root:
        assert cluster.link.is_symlink() and cluster.link.resolve() == cluster.home
        assert cluster.home.owner() == "postgres"
    assert cluster.running()
