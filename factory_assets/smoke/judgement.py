"""What one look at a target says: pass, wait, fail or skip, with the observation behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["pass", "wait", "fail", "skip"]
# Why a check could not run at all (as opposed to the release failing it); or `drift`: the
# check ran, and the application runs another image than the pin.
ErrorKind = Literal["config", "auth", "unknown_app", "unavailable", "protocol", "drift"]


@dataclass(frozen=True)
class Judgement:
    state: State
    reason: str
    # SmokeObservation fields except `at`: what was seen, exactly as the target reported it.
    observation: dict = field(default_factory=dict)
    refresh: bool = False  # Argo CD: ask for a refresh before the next look
    error: ErrorKind | None = None
