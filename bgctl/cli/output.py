"""Terminal output for deployments: stage lines, hooks, the bake countdown, the status table."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bgctl.lifecycle.deployer import Event
from bgctl.core.durations import format_duration
from bgctl.core.stages import Status

COUNTDOWN_EVERY = 10.0  # seconds between countdown lines when not on a terminal


class DeploymentPrinter:
    """An Observer: prints each event as it happens."""

    def __init__(self, console: Console, ingress_url: str) -> None:
        self.console = console
        self.ingress_url = ingress_url
        self._last_bake_line = float("-inf")
        self._bake_live = console.is_terminal

    def __call__(self, event: Event) -> None:
        d = event.deployment
        kind = event.kind
        if kind == "stage-start":
            self.console.print(f"▶ {event.stage}")
        elif kind == "stage-end":
            seconds = event.data.get("seconds")
            self.console.print(f"✓ {event.stage}  [dim]{format_duration(seconds or 0)}[/dim]")
        elif kind == "hook":
            status = event.data["status"]
            colour = {"SUCCEEDED": "green", "IN_PROGRESS": "yellow"}.get(status, "red")
            self.console.print(f"  hook `{escape(event.message)}`: [{colour}]{status}[/{colour}] "
                               f"({escape(event.data['reason'])}, "
                               f"{format_duration(event.data['seconds'])})", markup=True)
            detail = (event.data.get("stderr") or "").strip()
            if status == "FAILED" and detail:
                self.console.print(f"    {detail.splitlines()[-1]}", markup=False)
        elif kind == "bake":
            self._bake(event)
        elif kind == "paused":
            rule = d.test_rule
            header = f"{rule.header}: {rule.value}" if rule.value is not None else f"{rule.header}: 1"
            self.console.print(f"⏸ Paused after {event.stage}; {d.target} is the candidate, {d.source} serves production.")
            self.console.print(f"  try it:   curl -H '{header}' {self.ingress_url}/", markup=False)
            self.console.print("  then:     bgctl continue   (or bgctl rollback)")
        elif kind == "rollback":
            self.console.print(f"[bold red]↩ Rolling back[/bold red] at {event.stage}: {escape(event.message)}")
        elif kind == "note":
            self.console.print(f"· {event.message}", markup=False)
        elif kind == "finished":
            self._finished(event)

    def _bake(self, event: Event) -> None:
        remaining, total = event.data["remaining"], event.data["total"]
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


def print_status(console: Console, report: dict) -> None:
    for warning in report.get("warnings", []):
        console.print(f"[yellow]! {warning}[/yellow]")
    if not report["running"]:
        console.print(f"Project {report['project']}: not running (start it with bgctl up).")
    else:
        revision = report.get("production_revision") or ""
        console.print(f"Project {report['project']}: [bold]{report['production']}[/bold] serves production "
                      f"at {report['ingress']}/" + (f"  [dim]{revision}[/dim]" if revision else ""))
    weights = ", ".join(f"{slot} {pct}%" for slot, pct in report["weights"].items())
    if weights:
        console.print(f"Traffic:    {weights}")
    rule = report.get("test_rule")
    if rule:
        value = rule["value"] if rule["value"] is not None else "(any value)"
        console.print(f"Test rule:  {rule['header']}: {value}")
    routes = report["routes"]
    if routes["version"]:
        live = "live" if routes["live"] else f"NOT live (Envoy serves {routes['live_version'] or 'nothing'})"
        console.print(f"Routes:     {routes['version']} {live} via {routes['delivery']}")
    d = report["deployment"]
    if d is None:
        console.print("Deployment: none")
    else:
        flags = " (paused)" if d["paused"] else " (interrupted)" if d["interrupted"] else ""
        console.print(f"Deployment: {d['id']} {d['source']} → {d['target']}  [bold]{d['status']}[/bold]  "
                      f"stage {d['stage']}{flags}")
        if d.get("bake_remaining") is not None:
            console.print(f"            bake: {format_duration(d['bake_remaining'])} left")
        if d.get("reason"):
            console.print(f"            reason: {d['reason']}", markup=False)
        table = Table(box=None, pad_edge=False)
        for column in ("stage", "started", "ended", "took"):
            table.add_column(column)
        for record in d["history"]:
            table.add_row(record["stage"], _clock(record["started"]), _clock(record["ended"]),
                          format_duration(record["seconds"]) if record["seconds"] is not None else "…")
        console.print(table)
    if report["containers"]:
        table = Table(box=None, pad_edge=False)
        for column in ("service", "state", "health", "image"):
            table.add_column(column)
        for name, c in report["containers"].items():
            table.add_row(name, c["status"], c["health"] or "-", c["image"])
        console.print(table)


def _clock(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3] if epoch else "-"
