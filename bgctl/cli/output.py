"""Terminal output: the consoles, deployment events as they happen, the status table."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bgctl.core.durations import format_clock, format_duration
from bgctl.core.hooks import HookStatus, HookTargetType
from bgctl.core.stages import Status
from bgctl.core.status_report import StatusReport
from bgctl.lifecycle.events import Event, EventKind

COUNTDOWN_EVERY = 10.0  # seconds between countdown lines when not on a terminal

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress(message: str) -> None:
    err.print(f"[dim]·[/dim] {message}")


def warn(sentence: str) -> None:
    err.print(f"[yellow]![/yellow] {sentence}", markup=True)


class DeploymentPrinter:
    """An Observer: prints each event as it happens."""

    def __init__(self, console: Console, ingress_url: str, *, next_step_hint: bool = True) -> None:
        self.console = console
        self.ingress_url = ingress_url
        # The demo continues by itself: telling its audience to run bgctl continue would mislead.
        self.next_step_hint = next_step_hint
        self._last_bake_line = float("-inf")
        self._bake_live = console.is_terminal

    def __call__(self, event: Event) -> None:
        d = event.deployment
        kind = event.kind
        if kind == EventKind.STAGE_STARTED:
            self.console.print(f"▶ {event.stage}")
        elif kind == EventKind.STAGE_ENDED:
            self.console.print(f"✓ {event.stage}  [dim]{format_duration(event.seconds or 0)}[/dim]")
        elif kind == EventKind.HOOK_CALLED and event.hook_call is not None:
            hook, run = event.hook_call.hook, event.hook_call.run
            status = run.answer.status
            colour = {HookStatus.SUCCEEDED: "green", HookStatus.IN_PROGRESS: "yellow"}.get(status, "red")
            # A shell hook is named by its command, as before; a Lambda hook also by its id.
            name = f"{escape(hook.hook_id)} " if hook.hook_id and hook.target_type != HookTargetType.COMMAND else ""
            self.console.print(f"  hook {name}`{escape(hook.command)}`: [{colour}]{status}[/{colour}] "
                               f"({escape(run.answer.reason)}, {format_duration(run.seconds)})", markup=True)
            detail = run.stderr.strip()
            if status == HookStatus.FAILED and detail:
                self.console.print(f"    {detail.splitlines()[-1]}", markup=False)
        elif kind == EventKind.BAKING and event.bake is not None:
            self._bake(event.bake.remaining, event.bake.total)
        elif kind == EventKind.PAUSED:
            rule = d.test_rule
            header = f"{rule.header}: {rule.value}" if rule.value is not None else f"{rule.header}: 1"
            if event.message:  # PAUSE hooks awaiting action, by id
                self.console.print(f"⏸ Paused at {event.stage}: PAUSE hook {event.message} awaiting action; "
                                   f"{d.target} is the candidate, {d.source} serves production.", markup=False)
            else:
                self.console.print(f"⏸ Paused after {event.stage}; {d.target} is the candidate, "
                                   f"{d.source} serves production.")
            self.console.print(f"  try it:   curl -H '{header}' {self.ingress_url}/", markup=False)
            if self.next_step_hint:
                then = "bgctl continue [--hook-id ID]" if event.message else "bgctl continue"
                self.console.print(f"  then:     {then}   (or bgctl rollback)", markup=False)
        elif kind == EventKind.ROLLING_BACK:
            self.console.print(f"[bold red]↩ Rolling back[/bold red] at {event.stage}: {escape(event.message)}")
        elif kind == EventKind.NOTE:
            self.console.print(f"· {event.message}", markup=False)
        elif kind == EventKind.FINISHED:
            self._finished(event)

    def _bake(self, remaining: float, total: float) -> None:
        now = time.monotonic()
        if self._bake_live:
            end = "\n" if remaining <= 0 else "\r"
            self.console.print(f"  baking: {format_duration(remaining):>8} left of {format_duration(total)}  ",
                               end=end, highlight=False)
        elif remaining <= 0 or now - self._last_bake_line >= COUNTDOWN_EVERY:
            self._last_bake_line = now
            self.console.print(f"  baking: {format_duration(remaining)} left of {format_duration(total)}")

    def _finished(self, event: Event) -> None:
        d = event.deployment
        took = format_duration((d.finished or time.time()) - d.created)
        if d.status == Status.SUCCESSFUL:
            self.console.print(f"[bold green]Deployment {d.id} SUCCESSFUL[/bold green] in {took}: "
                               f"{d.target} serves production.")
        elif d.status == Status.ROLLBACK_SUCCESSFUL:
            self.console.print(f"[bold yellow]Deployment {d.id} ROLLBACK_SUCCESSFUL[/bold yellow] in {took}: "
                               f"{d.source} serves production; {d.target} stopped. Reason: {escape(str(d.reason))}")
        else:
            self.console.print(f"[bold red]Deployment {d.id} {d.status}[/bold red]: {escape(str(d.reason))}")
        for problem in d.rollback_history:
            self.console.print(f"  {problem}", markup=False)


def print_status(console: Console, report: StatusReport) -> None:
    for warning in report.warnings:
        console.print(f"[yellow]! {warning}[/yellow]")
    if not report.running:
        console.print(f"Project {report.project}: not running (start it with bgctl up).")
    else:
        revision = report.production_revision or ""
        console.print(f"Project {report.project}: [bold]{report.production}[/bold] serves production "
                      f"at {report.ingress}/" + (f"  [dim]{revision}[/dim]" if revision else ""))
    if report.api:
        console.print(f"ECS API:    {report.api.url} (bgctl serve, pid {report.api.pid})")
    for service in report.services:
        what = f"{service.production} runs {service.revision}" if service.revision else "starting"
        last = f"; last deployment {service.deployment}" if service.deployment else ""
        console.print(f"Service:    {service.name} at {service.ingress}/ ({what}{last})")
    weights = ", ".join(f"{slot} {pct}%" for slot, pct in report.weights.items())
    if weights:
        console.print(f"Traffic:    {weights}")
    if report.tasks:
        console.print(f"Tasks:      {', '.join(f'{slot} {count.describe()}' for slot, count in report.tasks.items())}")
    rule = report.test_rule
    if rule:
        value = rule.value if rule.value is not None else "(any value)"
        console.print(f"Test rule:  {rule.header}: {value}")
    routes = report.routes
    if routes.version:
        live = "live" if routes.live else f"NOT live (Envoy serves {routes.live_version or 'nothing'})"
        console.print(f"Routes:     {routes.version} {live} via {routes.delivery}")
    d = report.deployment
    if d is None:
        console.print("Deployment: none")
    else:
        flags = " (paused)" if d.paused else " (interrupted)" if d.interrupted else ""
        console.print(f"Deployment: {d.id} {d.source} → {d.target}  [bold]{d.status}[/bold]  "
                      f"stage {d.stage}{flags}")
        if d.bake_remaining is not None:
            console.print(f"            bake: {format_duration(d.bake_remaining)} left")
        if d.reason:
            console.print(f"            reason: {d.reason}", markup=False)
        for hook in d.awaiting_action:
            if hook.timed_out:
                console.print(f"            PAUSE {hook.hook_id} at {hook.stage} timed out at {format_clock(hook.deadline)}; "
                              f"the next bgctl continue or rollback applies its {hook.action}", markup=False)
            else:
                console.print(f"            PAUSE {hook.hook_id} at {hook.stage} awaits action until "
                              f"{format_clock(hook.deadline)} (then {hook.action})", markup=False)
        table = Table(box=None, pad_edge=False)
        for column in ("stage", "started", "ended", "took"):
            table.add_column(column)
        for record in d.history:
            took = format_duration(round(record.ended - record.started, 3)) if record.ended is not None else "…"
            table.add_row(record.stage.value, _clock(record.started), _clock(record.ended), took)
        console.print(table)
    if report.containers:
        table = Table(box=None, pad_edge=False)
        for column in ("service", "state", "health", "image"):
            table.add_column(column)
        for name, c in sorted(report.containers.items()):
            table.add_row(name, c.status, c.health or "-", c.image)
        console.print(table)


def _clock(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3] if epoch else "-"
