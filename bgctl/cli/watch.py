"""`bgctl watch`: the stack and the deployment in progress, live, from any terminal.

Read-only: it takes no lock and changes nothing; it reads the state file and
Envoy's per-cluster counters about twice a second. `--project NAME` watches a
stack started from another folder (the pytest plugin's, a CI job's): Docker's
Compose labels say where it runs from.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from bgctl.adapters.envoy_admin import EnvoyAdmin
from bgctl.adapters.project_files import load_settings, own_stack
from bgctl.adapters.service_connect import slot_counters
from bgctl.adapters.state_file import StateFile
from bgctl.core.errors import BgctlError, InvalidInput
from bgctl.core.settings import Settings
from bgctl.core.state import State
from bgctl.core.slot_rates import Sample
from bgctl.core.watch_view import API_RESUME, BGCTL_RESUME, WatchView, changed, line, screen, view_of

REFRESH = 0.5  # seconds between samples
# A watcher should say "not up" quickly rather than wait out Envoy's restart allowance.
ADMIN_WAIT = 1.0


@click.command()
@click.option("--once", is_flag=True, help="Print one view (two samples half a second apart) and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --once: one object for scripts).")
@click.option("--project", metavar="NAME",
              help="Watch the stack of Compose project NAME, run from any folder (e.g. the pytest plugin's).")
@click.option("--service", metavar="NAME",
              help="Watch a service created through the ECS API on a stack of its own (default: the kit's backend).")
def watch(once: bool, as_json: bool, project: str | None, service: str | None) -> None:
    """A live view of the deployment: stage, hooks, weights, requests per second per slot."""
    settings = load_settings() if project is None else settings_of_project(project)
    if service is not None:
        settings = settings_of_service(settings, service)
    watcher = Watcher(settings)
    # A shell starts background jobs with Ctrl-C ignored; a watch must still quit on it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if once:
            view = watcher.view_once()
            if as_json:
                print(json.dumps(view.to_dict(), indent=2))
            else:
                print(screen(view, project=settings.project_name, clock=_clock(), resume=_resume(settings)))
            return
        if sys.stdout.isatty() and not as_json:
            watcher.live()
        else:
            watcher.lines(as_json=as_json)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): nothing more to say
        return


def settings_of_project(project: str, env=None) -> Settings:
    """The settings of the stack Compose project `project` runs, from the folder Docker says it
    was started from; this shell's BGCTL_CONFIG is not that stack's, so it is left out."""
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "BGCTL_CONFIG"}
    env["COMPOSE_PROJECT_NAME"] = project
    try:
        Settings.parse(env, Path.cwd())  # checked (exit 2) before Docker is asked
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("COMPOSE_PROJECT_NAME", "--project", 1)) from None
    from bgctl.adapters.docker_engine import DockerEngine  # only here: the Docker SDK is slow to import

    engine = DockerEngine.connect()
    try:
        folder = engine.project_folder(project)
    finally:
        engine.close()
    if folder is None:
        raise BgctlError(f"No container of Compose project {project} exists; is its stack up?")
    return load_settings(env, Path(folder))


def settings_of_service(kit: Settings, service: str) -> Settings:
    """The settings of `service`'s own stack (a service created through `bgctl serve`)."""
    found = own_stack(kit, service)
    if found is None:
        raise BgctlError(f"No service {service} runs on a stack of its own in {kit.project_name} "
                         "(bgctl status lists them; the kit's backend is watched without --service).")
    return found


class Watcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_file = StateFile(settings.state_file)
        self.envoy = EnvoyAdmin(settings.admin_url, socket_path=settings.admin_socket, reconnect_for=ADMIN_WAIT)

    def state(self) -> State:
        state = self.state_file.load()
        if state is None:
            raise BgctlError(f"The stack {self.settings.project_name} is not up; start it with bgctl up.")
        return state

    def sample(self) -> Sample:
        try:
            counters = slot_counters(self.envoy)
        except BgctlError:
            raise BgctlError(f"The stack {self.settings.project_name} is not up (Envoy does not answer); "
                             "start it with bgctl up.") from None
        return Sample(time.monotonic(), counters)

    def view_once(self) -> WatchView:
        self.state()
        before = self.sample()
        time.sleep(REFRESH)  # a rate needs two samples
        after = self.sample()
        return view_of(self.state(), before, after)

    def views(self):
        """A view every REFRESH seconds, for ever."""
        self.state()
        before = self.sample()
        while True:
            time.sleep(REFRESH)
            after = self.sample()
            yield view_of(self.state(), before, after)
            before = after

    def live(self) -> None:
        console = Console(highlight=False)
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            for view in self.views():
                live.update(_styled(screen(view, project=self.settings.project_name, clock=_clock(),
                                           resume=_resume(self.settings))))

    def lines(self, *, as_json: bool) -> None:
        printed: WatchView | None = None
        for view in self.views():
            if changed(printed, view):
                text = json.dumps(view.to_dict()) if as_json else line(view, _clock())
                print(text, flush=True)
                printed = view


def _resume(settings: Settings) -> str:
    """How a PAUSE hook awaiting action is answered on this stack."""
    return API_RESUME if settings.kit_network is not None else BGCTL_RESUME


def _clock() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _styled(text: str) -> Text:
    styled = Text(text)
    styled.highlight_regex(r"█+", "blue")
    styled.highlight_regex(r"^green .*?█+", "green")
    styled.highlight_words(["blue"], "bold blue")
    styled.highlight_words(["green"], "bold green")
    styled.highlight_regex(r"[1-9]\d*\.\d err/s", "bold red")
    styled.highlight_words(["paused", "awaiting", "FAILED", "ROLLBACK_IN_PROGRESS", "TIMED_OUT"], "yellow")
    return styled
