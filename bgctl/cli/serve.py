"""`bgctl serve`: answer the ECS API on 127.0.0.1, in the foreground, until Ctrl-C or `bgctl down`."""

from __future__ import annotations

import signal

import click

from bgctl.adapters.api_process import announce, running, withdraw
from bgctl.adapters.ecs_store import EcsStore
from bgctl.adapters.project_files import load_settings
from bgctl.api.operations import Api, supported
from bgctl.api.server import EcsApiServer
from bgctl.cli.output import out
from bgctl.core.errors import BgctlError, PortTaken
from bgctl.core.settings import Settings


@click.command()
@click.option("--port", type=int, metavar="PORT", help="Port on 127.0.0.1 (default BGCTL_API_PORT, else 4599).")
def serve(port: int | None) -> None:
    """Answer the ECS API (aws ecs ..., boto3) for this project at http://127.0.0.1:PORT.

    Point a script at it with AWS_ENDPOINT_URL_ECS=http://127.0.0.1:PORT (or
    --endpoint-url); any credentials work, signatures are not checked.
    """
    settings = load_settings()
    if port is not None:
        from dataclasses import replace
        settings = replace(settings, api_port=port)
    server = open_server(settings)
    out.print(f"ECS API for project {settings.project_name} at {settings.api_url} "
              f"(AWS_ENDPOINT_URL_ECS={settings.api_url}); Ctrl-C stops it.")
    out.print(f"  {len(supported())} operations: {', '.join(supported())}")
    run_server(settings, server)


def open_server(settings: Settings) -> EcsApiServer:
    other = running(settings.api_file)
    if other is not None:
        raise BgctlError(f"bgctl serve already runs for project {settings.project_name} "
                         f"(pid {other.pid}, {other.url}).")
    api = Api(settings=settings, store=EcsStore(settings.ecs_dir))
    try:
        server = EcsApiServer(api, settings.api_port)
    except OSError as exc:
        raise PortTaken(f"127.0.0.1:{settings.api_port} is taken ({exc.strerror}); "
                        f"set BGCTL_API_PORT or --port to a free port.") from None
    from bgctl.api.worker import DeploymentWorker
    api.worker = DeploymentWorker(api)
    return server


def run_server(settings: Settings, server: EcsApiServer) -> None:
    def stop(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # A shell starts `bgctl serve &` with Ctrl-C ignored: serve must still stop on it (kill -INT, or a
    # Ctrl-C of the script that started it), not live on holding the port and the deployment's lock.
    signal.signal(signal.SIGINT, stop)
    announce(settings.api_file, settings.api_url)
    try:
        server.api.worker.resume_interrupted()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        withdraw(settings.api_file)
