"""A container's inspect document as bgctl reads it (no Docker needed: the documents are Docker's shape)."""

from bgctl.adapters.docker_engine import service_state


def inspect(status: str, health: str | None) -> dict:
    state = {"Status": status, **({"Health": {"Status": health}} if health else {})}
    return {"Name": "/bgctl-backend-blue-1", "State": state,
            "Config": {"Image": "nginx:blue", "Labels": {"com.docker.compose.service": "backend-blue"}}}


def test_a_running_container_has_its_health():
    found = service_state(inspect("running", "unhealthy"))
    assert (found.service, found.status, found.health, found.image) == ("backend-blue", "running", "unhealthy", "nginx:blue")


def test_a_stopped_container_has_no_health_even_if_docker_kept_its_last_check():
    # A slot stopped gracefully fails its last checks, and Docker keeps that status after it exits:
    # `bgctl status` showed the stopped slot as "exited unhealthy".
    found = service_state(inspect("exited", "unhealthy"))
    assert (found.status, found.health) == ("exited", None)
