"""`bgctl up` from nothing, `down` leaving nothing, and the failures that must leave nothing half-started."""

import os
import shutil
import socket
import stat

from tests.integration.conftest import up_or_fail


def test_down_leaves_nothing_of_the_project(fresh_kit):
    up_or_fail(fresh_kit)
    assert fresh_kit.leftovers()
    assert fresh_kit.settings.state_dir.exists()
    result = fresh_kit.bgctl("down")
    assert result.returncode == 0, result.stderr
    assert fresh_kit.leftovers() == []
    assert not fresh_kit.settings.state_dir.exists()
    again = fresh_kit.bgctl("down")
    assert (again.returncode, again.stdout.strip()) == (0, "Nothing to remove.")


def test_port_taken_by_another_process(fresh_kit):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", fresh_kit.http_port))
        squatter.listen()
        result = fresh_kit.bgctl("up")
    assert result.returncode == 1
    assert result.stderr == (
        f"bgctl: Port {fresh_kit.http_port} on 127.0.0.1 is already in use by another process; "
        "set BGCTL_HTTP_PORT to a free port.\n"
    )
    assert fresh_kit.leftovers() == []
    assert not fresh_kit.settings.state_dir.exists()


def test_docker_unreachable(fresh_kit):
    result = fresh_kit.bgctl("up", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert result.stderr == (
        "bgctl: Docker is not reachable: start the Docker Engine (or check DOCKER_HOST and your permissions).\n"
    )
    assert fresh_kit.leftovers() == []


def test_compose_v2_missing(fresh_kit, tmp_path):
    # A docker CLI without the compose plugin: the real one, minus `docker compose`.
    shim = tmp_path / "docker"
    shim.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = compose ]; then echo "docker: \'compose\' is not a docker command." >&2; exit 1; fi\n'
        f'exec {shutil.which("docker")} "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    result = fresh_kit.bgctl("up", env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert result.returncode == 1
    assert result.stderr.startswith("bgctl: Docker Compose v2 is missing (`docker compose` does not work)")
    assert result.stderr.count("\n") == 1
    assert fresh_kit.leftovers() == []
