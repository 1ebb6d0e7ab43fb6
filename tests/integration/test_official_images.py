"""The official-image path (issue 9): the kit on `nginx:alpine` and `envoyproxy/envoy:v1.40.0`.

No registry answers here, so the official images are reproduced: look-alikes
built FROM the offline stand-ins with what docs/official-images.md lists as
different -- the official entrypoints, the `envoy` user (uid 101), the demo
/etc/envoy/envoy.yaml, ENTRYPOINT and CMD (official_lookalikes/) -- tagged
with the official names. Where the real official images are already here (a
runner that pulled them) they are used as they are, and left alone.

Tagging nginx:alpine switches every stack on this engine whose BGCTL_IMAGES is
`auto` to these images, so this module runs alone, after the parallel suite
(marker `official_images`, .ci/run). The tags are removed at the end, whatever
happened.
"""

from __future__ import annotations

import json
import os

import docker
import pytest

from bgctl.adapters.images import OFFICIAL, STANDIN_BASE_COMMENT, ImageSet
from tests.integration.conftest import GREEN, HERE, REPO, Kit, up_or_fail
from tests.integration.test_deploy import assert_seed_response, seed_transcript

pytestmark = pytest.mark.official_images

LOOKALIKES = HERE / "official_lookalikes"
# Kept after the run (the official names are not): the build cache, so a rerun builds in a second.
CACHE_REPO = "bgctl-test/official-lookalike"
# The kit's Envoy command (compose.yaml), for running the image outside the stack.
KIT_ENVOY_COMMAND = ["envoy", "--config-path", "/etc/envoy/bootstrap/envoy.yaml",
                     "--reject-unknown-dynamic-fields", "--drain-time-s", "5"]


@pytest.fixture(scope="module")
def engine(request):
    """The official names on this engine: the real images if here, else the look-alikes, tagged for the module."""
    alone_or_fail(request.session)
    client = docker.from_env()
    tagged: list[tuple[str, str]] = []
    try:
        standins = None
        for kind, name in (("nginx", OFFICIAL.nginx), ("envoy", OFFICIAL.envoy)):
            present = find_image(client, name)
            if present is not None and not built_on_standins(present):
                continue
            standins = standins or standin_images()
            image = build_lookalike(client, kind, getattr(standins, kind))
            repository, tag = name.rsplit(":", 1)
            image.tag(repository, tag)
            tagged.append((name, image.id))
        yield client
    finally:
        for name, image_id in tagged:
            present = find_image(client, name)
            if present is not None and present.id == image_id:  # still ours
                client.images.remove(name)  # the tag only: the cache tag keeps the image
        client.close()


def alone_or_fail(session) -> None:
    """Fail, before tagging anything, where other tests run at the same time on other workers."""
    others = [item.nodeid for item in session.items if item.get_closest_marker("official_images") is None]
    if os.environ.get("PYTEST_XDIST_WORKER") and others:
        pytest.fail("test_official_images.py tags nginx:alpine, which switches parallel stacks to it: "
                    "run it alone (-m official_images) and the rest with -m 'not official_images'.")


def find_image(client, name: str):
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def built_on_standins(image) -> bool:
    """A look-alike (or a stand-in) left under an official name, not the real image."""
    return any(STANDIN_BASE_COMMENT in (layer.get("Comment") or "") for layer in image.history())


def standin_images() -> ImageSet:
    """The offline stand-ins, built first if missing (as `bgctl images` would)."""
    result = Kit.new("bgofficial").bgctl("images", "--json", env={"BGCTL_IMAGES": "offline"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return ImageSet(report["kind"], report["nginx"], report["envoy"])


def build_lookalike(client, kind: str, base: str):
    tag = f"{CACHE_REPO}-{kind}:{base.rsplit(':', 1)[1]}"
    image, _ = client.images.build(path=str(LOOKALIKES / kind), buildargs={"BASE": base}, tag=tag,
                                   rm=True, forcerm=True, pull=False, network_mode="none")
    return image


def run(client, image: str, command: list[str], environment: dict[str, str] | None = None,
        volumes: dict | None = None) -> tuple[int, str]:
    """A one-off container of `image` through its entrypoint: its exit status and output."""
    # No network: nothing here needs one, and a machine's default bridge (docker0) may be missing.
    container = client.containers.create(image, command, environment=environment or {}, volumes=volumes or {},
                                         network_mode="none")
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode()
    finally:
        container.remove(force=True)


def test_the_official_images_differ_from_the_standins_as_the_doc_says(engine, tmp_path):
    envoy = engine.images.get(OFFICIAL.envoy).attrs["Config"]
    assert (envoy["Entrypoint"], envoy["Cmd"]) == (["/docker-entrypoint.sh"], ["envoy", "-c", "/etc/envoy/envoy.yaml"])
    # The entrypoint drops to the envoy user, uid 101, unless ENVOY_UID is 0 ...
    assert run(engine, OFFICIAL.envoy, ["id", "-u"]) == (0, "101\n")
    assert run(engine, OFFICIAL.envoy, ["id", "-u"], {"ENVOY_UID": "0"}) == (0, "0\n")
    # ... or renumbers it first,
    assert run(engine, OFFICIAL.envoy, ["sh", "-c", "id -u; id -g"],
               {"ENVOY_UID": "4242", "ENVOY_GID": "4343"}) == (0, "4242\n4343\n")
    # and runs Envoy for a command that starts with an option.
    status, output = run(engine, OFFICIAL.envoy, ["--version"], {"ENVOY_UID": "0"})
    assert status == 0 and "/1.40.0/" in output, output
    assert run(engine, OFFICIAL.envoy, ["test", "-s", "/etc/envoy/envoy.yaml"]) == (0, "")
    # As uid 101, the kit's Envoy could not create its admin socket in bgctl's
    # admin directory (owned by the host user, 0700): why compose.yaml sets ENVOY_UID=0.
    admin = tmp_path / "admin"
    admin.mkdir(mode=0o700)
    routes = tmp_path / "routes"
    routes.mkdir()
    mounts = {str(REPO / "envoy"): {"bind": "/etc/envoy/bootstrap", "mode": "ro"},
              str(routes): {"bind": "/etc/envoy/routes", "mode": "rw"},
              str(admin): {"bind": "/var/run/envoy-admin", "mode": "rw"}}
    status, output = run(engine, OFFICIAL.envoy, KIT_ENVOY_COMMAND, volumes=mounts)
    assert status != 0 and "cannot bind '/var/run/envoy-admin/admin.sock': Permission denied" in output, output

    nginx = engine.images.get(OFFICIAL.nginx).attrs["Config"]
    assert (nginx["Entrypoint"], nginx["Cmd"]) == (["/docker-entrypoint.sh"], ["nginx", "-g", "daemon off;"])
    assert nginx["StopSignal"] == "SIGQUIT"
    # The entrypoint configures only for an nginx command; anything else runs as given.
    status, output = run(engine, OFFICIAL.nginx, ["nginx", "-t"])
    assert status == 0 and "/docker-entrypoint.sh: Configuration complete; ready for start up" in output, output
    assert run(engine, OFFICIAL.nginx, ["id", "-u", "nginx"]) == (0, "101\n")


def test_the_seed_transcript_on_the_official_images(engine):
    """Both modes pick the official images; the stack starts under one and deploys under the other."""
    kit = Kit.new("bgofficial")
    kit.extra_env["BGCTL_MINUTE"] = "1s"
    try:
        for mode in ("official", "auto"):
            result = kit.bgctl("images", "--json", env={"BGCTL_IMAGES": mode})
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout) == {"mode": mode, **OFFICIAL.to_dict()}
        kit.extra_env["BGCTL_IMAGES"] = "official"
        up_or_fail(kit)
        envoy = task(engine, kit, "service-connect")
        assert envoy.attrs["Config"]["Image"] == OFFICIAL.envoy
        assert envoy.attrs["Path"] == "/docker-entrypoint.sh"
        # ENVOY_UID=0: the entrypoint exec'd the kit's command as root.
        assert processes(envoy) == [("0", " ".join(KIT_ENVOY_COMMAND))]
        # The image's demo config is still there, neither read nor shadowed by the kit's mount.
        assert envoy.exec_run(["test", "-s", "/etc/envoy/envoy.yaml"]).exit_code == 0
        assert_official_nginx_task(task(engine, kit, "frontend"))
        assert_official_nginx_task(task(engine, kit, "backend-blue"))

        kit.extra_env["BGCTL_IMAGES"] = "auto"
        seed_transcript(kit)
        assert_official_nginx_task(task(engine, kit, "backend-green"))
        assert_seed_response(kit.get("/"), GREEN)
    finally:
        kit.teardown()


def task(client, kit: Kit, service: str):
    found = client.containers.list(all=True, filters={"label": [f"com.docker.compose.project={kit.project}",
                                                                 f"com.docker.compose.service={service}"]})
    assert len(found) == 1, (service, found)
    return found[0]


def processes(container) -> list[tuple[str, str]]:
    """(uid, command line) of each process in `container`, from the engine (`docker top`)."""
    return [(uid, args) for _pid, uid, args in container.top(ps_args="-o pid,uid,args")["Processes"]]


def assert_official_nginx_task(container) -> None:
    """An nginx task on nginx:alpine: through its entrypoint, which ran none of its scripts; workers as uid 101."""
    assert container.attrs["Config"]["Image"] == OFFICIAL.nginx
    assert (container.attrs["Path"], container.attrs["Args"][:1]) == ("/docker-entrypoint.sh", ["/bin/sh"])
    assert "/docker-entrypoint.sh:" not in container.logs().decode()
    running = processes(container)
    assert [uid for uid, args in running if args.startswith("nginx: master")] == ["0"], running
    workers = [uid for uid, args in running if args.startswith("nginx: worker")]
    assert workers and set(workers) == {"101"}, running
