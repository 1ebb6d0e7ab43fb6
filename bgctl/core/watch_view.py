"""What `bgctl watch` shows: the stack's record and Envoy's per-slot rates, as a value and as text.

Pure: built from the state file's record and two samples of Envoy's cluster
counters; `cli/watch.py` samples, renders and decides when to print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bgctl.core.deployment import Deployment
from bgctl.core.stages import STAGES
from bgctl.core.slot_rates import Sample, SlotRates, rates
from bgctl.core.state import State
from bgctl.core.topology import SLOTS

BAR_WIDTH = 24
# In a pipe a line is printed only when what it shows changes; a rate counts as
# changed when it moves by more than this share of the last printed one (and by
# more than MIN_RATE_CHANGE per second), so that noise does not print every tick.
RATE_CHANGE_SHARE = 0.25
MIN_RATE_CHANGE = 2.0


@dataclass(frozen=True)
class HookStatusView:
    hook_id: str
    status: str


@dataclass(frozen=True)
class DeploymentView:
    id: str
    target: str
    status: str
    stage: str
    stage_number: int  # 1-based position in the lifecycle
    step: int
    steps: int
    paused: bool
    awaiting: tuple[str, ...]  # PAUSE hooks awaiting action
    hooks: tuple[HookStatusView, ...]  # the hooks' executions at the current stage

    @classmethod
    def of(cls, d: Deployment) -> "DeploymentView":
        executions = d.executions_at(d.stage, rollback=d.rolling_back)
        return cls(id=d.id, target=d.target, status=d.status.value, stage=d.stage.value,
                   stage_number=STAGES.index(d.stage) + 1, step=d.step, steps=len(d.shift.steps()),
                   paused=d.paused, awaiting=tuple(e.hook_id for e in d.awaiting()) if not d.finished_ else (),
                   hooks=tuple(HookStatusView(e.hook_id, e.status.value) for e in executions))

    def to_dict(self) -> dict:
        return {"id": self.id, "target": self.target, "status": self.status, "stage": self.stage,
                "paused": self.paused, "awaiting": list(self.awaiting),
                "hooks": [{"hook_id": h.hook_id, "status": h.status} for h in self.hooks]}


@dataclass(frozen=True)
class WatchView:
    production: str
    weights: Mapping[str, float]
    test_traffic_to: str | None
    deployment: DeploymentView | None
    slots: Mapping[str, SlotRates]

    def to_dict(self) -> dict:
        """`watch --once --json`: a stable contract for scripts."""
        return {"production": self.production, "weights": dict(self.weights),
                "test_traffic_to": self.test_traffic_to,
                "deployment": self.deployment.to_dict() if self.deployment else None,
                "slots": {slot: r.to_dict() for slot, r in self.slots.items()}}


def view_of(state: State, before: Sample, after: Sample) -> WatchView:
    traffic = state.traffic
    return WatchView(
        production=traffic.production,
        weights=traffic.weights(),
        test_traffic_to=traffic.candidate if traffic.test_rule else None,
        deployment=DeploymentView.of(state.deployment) if state.deployment else None,
        slots=rates(before, after),
    )


def _rate_moved(old: float, new: float) -> bool:
    change = abs(new - old)
    return change > MIN_RATE_CHANGE and change > RATE_CHANGE_SHARE * max(old, new)


def changed(printed: WatchView | None, now: WatchView) -> bool:
    """Whether the pipe mode prints a line for `now`, given the last line it printed."""
    if printed is None:
        return True
    if (printed.production, dict(printed.weights), printed.test_traffic_to, printed.deployment) != \
            (now.production, dict(now.weights), now.test_traffic_to, now.deployment):
        return True
    for slot, rate in now.slots.items():
        old = printed.slots.get(slot, SlotRates(0.0, 0.0, 0))
        if _rate_moved(old.rps, rate.rps) or _rate_moved(old.errors_per_s, rate.errors_per_s):
            return True
        if (old.errors_per_s > 0) != (rate.errors_per_s > 0):
            return True
    return False


def _weights_text(view: WatchView) -> str:
    return " ".join(f"{slot} {_number(view.weights.get(slot, 0))}%" for slot in SLOTS)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _deployment_text(d: DeploymentView) -> str:
    text = f"{d.id} → {d.target} {d.status} {d.stage}"
    if d.steps > 1:
        text += f" (step {d.step + 1}/{d.steps})"
    if d.paused:
        text += " paused"
    if d.hooks:
        text += " hooks " + ", ".join(f"{h.hook_id} {h.status}" for h in d.hooks)
    if d.awaiting:
        text += " awaiting " + ", ".join(d.awaiting)
    return text


def line(view: WatchView, clock: str) -> str:
    """One line for the pipe mode: no colour, rates as whole numbers."""
    parts = [clock, f"production {view.production}", f"weights {_weights_text(view)}"
             + (f" test traffic → {view.test_traffic_to}" if view.test_traffic_to else "")]
    parts.append(_deployment_text(view.deployment) if view.deployment else "no deployment")
    parts.append("  ".join(f"{slot} {r.rps:.0f} rps {r.errors_per_s:.0f} err/s" for slot, r in view.slots.items()))
    return " | ".join(parts)


def bar(share: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, share)) * width)
    return "█" * filled + "░" * (width - filled)


BGCTL_RESUME = "bgctl continue or bgctl rollback"
# A service on a stack of its own is driven through the ECS API (`bgctl continue` acts on the kit's backend).
API_RESUME = "aws ecs continue-service-deployment or stop-service-deployment"


def screen(view: WatchView, *, project: str, clock: str, resume: str = BGCTL_RESUME) -> str:
    """The terminal view: a few lines, one bar per slot (its share of the requests of the moment).
    `resume`: how a PAUSE hook awaiting action is answered."""
    lines = [f"bgctl watch · {project} · {clock}  (Ctrl-C quits)",
             f"production  {view.production}    weights  {_weights_text(view)}"
             + (f"    test traffic → {view.test_traffic_to}" if view.test_traffic_to else "")]
    d = view.deployment
    if d is None:
        lines.append("deployment  none")
    else:
        lines.append(f"deployment  {d.id} → {d.target}  {d.status}")
        stage = f"stage       {d.stage_number}/{len(STAGES)} {d.stage}"
        if d.steps > 1:
            stage += f"  step {d.step + 1}/{d.steps}"
        if d.paused:
            stage += "  ⏸ paused"
        lines.append(stage)
        for hook in d.hooks:
            lines.append(f"  hook      {hook.hook_id}  {hook.status}")
        for hook_id in d.awaiting:
            lines.append(f"  awaiting  {hook_id} ({resume})")
    total = sum(r.rps for r in view.slots.values())
    for slot, r in view.slots.items():
        share = r.rps / total if total else 0.0
        lines.append(f"{slot:<6} {bar(share)} {r.rps:7.1f} rps  {r.errors_per_s:5.1f} err/s  {r.active:3d} active")
    return "\n".join(lines)
