"""factory.yaml declares soak, windows, auto_rollback and sync_window per environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factory_assets.common.errors import InputError
from factory_assets.layout.config import load_layout
from factory_assets.policy.windows import decide

SAFER = """\
environments:
  dev:  {pins: pin-files}
  prod:
    pins: pin-files
    after: dev
    soak: 30m
    auto_rollback: true
    sync_window: 5m
    windows:
      - {kind: deny, schedule: "0 16 * * FRI", duration: 64h, timeZone: Europe/Berlin}
      - kind: allow
        schedule: "0 9 * * MON-FRI"
        duration: 8h
        timeZone: Europe/Berlin
        rollbacks: deny
"""


def test_the_three_settings_are_read_per_environment(tmp_path: Path):
    (tmp_path / "factory.yaml").write_text(SAFER)
    layout = load_layout(tmp_path)
    prod, dev = layout.environment("prod"), layout.environment("dev")
    assert (prod.soak, prod.auto_rollback, prod.sync_window) == (
        timedelta(minutes=30),
        True,
        timedelta(minutes=5),
    )
    assert [w.kind for w in prod.windows] == ["deny", "allow"]
    assert prod.windows[1].rollbacks == "deny" and prod.windows[0].rollbacks == "allow"
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert decide(prod.windows, saturday).reason == "outside its window until Mon 09:00"
    # nothing declared: no soak, no window, no automatic rollback, Argo CD's 3 minutes
    assert (dev.soak, dev.windows, dev.auto_rollback, dev.sync_window) == (
        None,
        (),
        False,
        timedelta(minutes=3),
    )


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (("soak: 30m", "soak: 30"), "environments.prod.soak", "a duration such as 30m"),
        (("sync_window: 5m", "sync_window: soon"), "environments.prod.sync_window", "duration"),
        (
            ("auto_rollback: true", "auto_rollback: maybe"),
            "environments.prod.auto_rollback",
            "bool",
        ),
        (
            ('schedule: "0 16 * * FRI"', 'schedule: "16:00 FRI"'),
            "environments.prod.windows.0.schedule",
            "5-field cron",
        ),
        (
            ("timeZone: Europe/Berlin\n", "timeZone: Berlin\n"),
            "environments.prod.windows.1.timeZone",
            "not a time zone",
        ),
        (
            ("rollbacks: deny", "rollbacks: never"),
            "environments.prod.windows.1.rollbacks",
            "'deny'",
        ),
        (("duration: 64h", "length: 64h"), "environments.prod.windows.0.length", "unknown key"),
        (("auto_rollback:", "auto_rolback:"), "environments.prod.auto_rolback", "auto_rollback"),
        (("    after: dev\n", ""), "environments.prod.soak", "only a stage"),
    ],
)
def test_a_bad_setting_names_factory_yaml_the_field_and_what_was_expected(
    tmp_path: Path, edit: tuple[str, str], field: str, problem: str
):
    assert edit[0] in SAFER
    (tmp_path / "factory.yaml").write_text(SAFER.replace(*edit))
    with pytest.raises(InputError) as caught:
        load_layout(tmp_path)
    assert caught.value.path.endswith("factory.yaml")
    assert caught.value.field == field and problem in caught.value.problem, str(caught.value)
