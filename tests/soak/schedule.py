"""The soak's seeded schedule: every release request and every fault, timed, from one seed.

`make_schedule(config)` is a pure function of the config (seed included): the same seed gives
the same events, in the same order, at the same offsets. What happens when they run is not
deterministic (processes race), which is the point; the history records what did happen.
A schedule is plain JSON (`dump`/`load`), so a violation's shortest history can be replayed.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

# Layouts: the factory's own (`releases:` queue, pin files, prod after dev with approval) and
# the deploy repository's (four-list queue, service map, overlays, prod after dev with retag).
LAYOUTS = ("own", "ljwx")
ENVS = ("dev", "prod")
# The runners: two CLI loops and the daemon on the factory's layout and the deploy
# repository's; each cluster of the deploy repository runs its own (dev, prod).
CLI_RUNNERS = ("cli-own", "cli-lj", "cli-lj-prod")
DAEMON = "daemon-own"
RUNNERS = (*CLI_RUNNERS, DAEMON)

# Fault kind -> weight in the schedule.
FAULT_WEIGHTS = {
    "registry_5xx": 5,
    "registry_timeout": 1,
    "registry_401": 2,
    "registry_404": 2,
    "registry_cut": 3,
    "registry_outage": 1,
    "git_race": 3,
    "git_reject": 2,
    "kill": 4,
    "skew": 2,
}
FAULT_KINDS = tuple(FAULT_WEIGHTS)
NEVER = -1.0  # a delay that never ends: the replica never arrives, the approver never comes


@dataclass(frozen=True)
class SoakConfig:
    """What one soak runs: its seed, its scale, and the engine settings it shortens."""

    seed: int = 1
    duration: float = 600.0  # seconds during which requests arrive and faults fire
    services: int = 200  # split between the two layouts
    requests: int = 2000
    faults_per_minute: float = 12.0
    drain: float = 120.0  # seconds after `duration` for the runners to finish (no faults)
    lease_seconds: int = 30  # FACTORY_CLAIM_LEASE_SECONDS: skews go past it
    replication_timeout: int = 90  # FACTORY_REPLICATION_TIMEOUT
    daemon: bool = True
    distinct_hosts: bool = True  # each CLI runner in its own UTS namespace: another "host"
    check_every_commit: bool = True
    held_every: int = 40  # one lane in N is on hold in its environment
    runners: tuple[str, ...] = CLI_RUNNERS
    only_services: tuple[str, ...] = ()  # a replay's world: just these services (and one more)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SoakConfig:
        data = dict(data)
        data["runners"] = tuple(data.get("runners", CLI_RUNNERS))
        data["only_services"] = tuple(data.get("only_services", ()))
        return cls(**data)


@dataclass(frozen=True)
class Event:
    """One scheduled action at `at` seconds: a release request or a fault, with its parameters."""

    at: float
    kind: str
    params: dict = field(default_factory=dict)

    @property
    def is_fault(self) -> bool:
        return self.kind in FAULT_KINDS

    def line(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"t={self.at:7.2f}s {self.kind} {args}"


@dataclass(frozen=True)
class Schedule:
    config: SoakConfig
    events: tuple[Event, ...]

    @property
    def requests(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == "request")

    @property
    def faults(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.is_fault)

    def services(self, layout: str) -> list[str]:
        return service_names(self.config, layout)

    def held(self, layout: str) -> dict[str, list[str]]:
        return held_lanes(self.config, layout)

    def with_events(self, events: list[Event] | tuple[Event, ...]) -> Schedule:
        return Schedule(self.config, tuple(sorted(events, key=lambda e: e.at)))

    def to_json(self) -> str:
        return json.dumps(
            {
                "config": self.config.to_dict(),
                "events": [{"at": e.at, "kind": e.kind, **e.params} for e in self.events],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        data = json.loads(text)
        events = []
        for raw in data["events"]:
            raw = dict(raw)
            at, kind = raw.pop("at"), raw.pop("kind")
            events.append(Event(float(at), kind, raw))
        return cls(SoakConfig.from_dict(data["config"]), tuple(events))

    def dump(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> Schedule:
        return cls.from_json(path.read_text())


def service_names(config: SoakConfig, layout: str) -> list[str]:
    """`fo-000`... on the factory's layout, `lj-000`... on the deploy repository's."""
    own = max(1, config.services // 2)
    count = own if layout == "own" else max(1, config.services - own)
    prefix = "fo" if layout == "own" else "lj"
    return [f"{prefix}-{n:03d}" for n in range(count)]


def held_lanes(config: SoakConfig, layout: str) -> dict[str, list[str]]:
    """env -> services on hold there: a fixed, seeded few, so some requests wait "held"."""
    if config.held_every <= 0:
        return {}
    rng = random.Random(f"{config.seed}:held:{layout}")
    held: dict[str, list[str]] = {}
    for name in service_names(config, layout):
        if rng.randrange(config.held_every) == 0:
            held.setdefault(rng.choice(ENVS), []).append(name)
    return held


def _delay(rng: random.Random, low: float, high: float, never: float) -> float:
    """A replication (or approval) delay: usually within [low, high], sometimes never."""
    if rng.random() < never:
        return NEVER
    return round(rng.uniform(low, high), 2)


def _request(rng: random.Random, config: SoakConfig, at: float, number: int) -> Event:
    layout = rng.choice(LAYOUTS)
    service = rng.choice(service_names(config, layout))
    params = {
        "layout": layout,
        "service": service,
        "content": f"{config.seed}-{number}-{service}",
        # how long after the request lands the dev registry has the digest (0: before)
        "dev_delay": 0.0 if rng.random() < 0.6 else _delay(rng, 0.5, 12.0, 0.03),
        # how long after its stage request appears the prod registry has it
        "prod_delay": _delay(rng, 0.5, 12.0, 0.05),
    }
    if layout == "own":
        params["by"] = "tag" if rng.random() < 0.3 else "digest"
        params["approve_delay"] = _delay(rng, 0.5, 10.0, 0.1)
    return Event(round(at, 3), "request", params)


def _fault(rng: random.Random, config: SoakConfig, at: float) -> Event:
    kind = rng.choices(FAULT_KINDS, weights=[FAULT_WEIGHTS[k] for k in FAULT_KINDS])[0]
    env = rng.choice(ENVS)
    params: dict
    if kind == "registry_5xx":
        params = {"env": env, "count": rng.randint(1, 8), "status": rng.choice([500, 502, 503])}
    elif kind == "registry_timeout":
        params = {"env": env, "count": rng.randint(1, 2)}
    elif kind == "registry_401":
        params = {"env": "dev", "seconds": round(rng.uniform(5, 20), 2)}  # dev: token auth
    elif kind == "registry_404":
        params = {
            "env": env,
            "layout": rng.choice(LAYOUTS),
            "seconds": round(rng.uniform(3, 12), 2),
        }
    elif kind == "registry_cut":
        params = {"env": env, "count": rng.randint(1, 4)}
    elif kind == "registry_outage":
        # longer than the client's retry budget (two retries with back-off), shorter than a pass
        params = {"env": env, "seconds": round(rng.uniform(4, 15), 2)}
    elif kind == "git_race":
        params = {"layout": rng.choice(LAYOUTS), "commits": rng.randint(3, 10)}
    elif kind == "git_reject":
        params = {"layout": rng.choice(LAYOUTS), "seconds": round(rng.uniform(3, 10), 2)}
    elif kind == "kill":
        runners = [*config.runners, *([DAEMON] if config.daemon else [])]
        params = {
            "runner": rng.choice(runners),
            "after": round(rng.uniform(0.0, 3.0), 2),  # into its next (or current) pass
            "how": rng.choice(["process", "group"]),
        }
    else:  # skew: ahead or behind by more than a lease
        beyond = config.lease_seconds + rng.randint(5, 120)
        params = {
            "runner": rng.choice(config.runners),
            "seconds": beyond * rng.choice([1, -1]),
            "passes": rng.randint(1, 3),
        }
    return Event(round(at, 3), kind, params)


def make_schedule(config: SoakConfig) -> Schedule:
    """Requests spread over the first 90% of the soak, faults as a Poisson process over all of it."""
    rng = random.Random(config.seed)
    span = config.duration * 0.9
    times = sorted(rng.uniform(0, span) for _ in range(config.requests))
    events = [_request(rng, config, at, n) for n, at in enumerate(times)]
    fault_rng = random.Random(f"{config.seed}:faults")
    rate = config.faults_per_minute / 60.0
    at = 0.0
    while rate > 0:
        at += fault_rng.expovariate(rate)
        if at >= config.duration:
            break
        events.append(_fault(fault_rng, config, at))
    return Schedule(config, tuple(sorted(events, key=lambda e: e.at)))


def shifted(events: list[Event], start: float, *, max_gap: float) -> list[Event]:
    """The events from `start` on, moved to begin at 0 with no gap longer than `max_gap`:
    a replay keeps their order and closeness, not the idle time between them."""
    out, last, clock = [], None, 0.0
    for event in sorted(events, key=lambda e: e.at):
        if event.at < start:
            continue
        gap = 0.0 if last is None else min(event.at - last, max_gap)
        clock += gap
        last = event.at
        out.append(replace(event, at=round(clock, 3)))
    return out
