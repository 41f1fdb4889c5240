"""The dashboard's "what runs where": `factory release status`'s rows, with the evidence behind them.

The rows come from `lane_status_rows`, the reader the command prints, so the page and
`factory release status --json` list the same lanes with the same pins, whatever the
layout. This module only adds what a reader of the page can open: the record that pinned
the lane's release (a promotion, or an imported legacy one) and the lane's last smoke check.
"""

from __future__ import annotations

from pathlib import Path

from factory_assets.common.errors import InputError
from factory_assets.layout.config import DEFAULT_ENV
from factory_assets.pins.lane_view import lane_status_rows


def without_root(text: str, repo: Path) -> str:
    """A message as the page may show it: paths relative to the repository, never the
    build machine's."""
    return text.replace(f"{Path(repo).resolve()}/", "").replace(f"{repo}/", "")


def lane_table(
    repo: Path, lines: list[dict], legacy: dict[int, dict], warnings: list[str]
) -> list[dict]:
    """One row per lane, as `factory release status --json` has it (`status`), with the
    lane's evidence lines (`pinned`, `last_smoke`); problems become page warnings."""
    try:
        rows, problems = lane_status_rows(Path(repo))
    except InputError as exc:
        warnings.append(without_root(f"what runs where: {exc}", repo))
        return []
    warnings.extend(without_root(problem, repo) for problem in problems)
    by_release: dict[tuple[str, str, str], dict] = {}
    last_pinned: dict[tuple[str, str], dict] = {}
    last_smoke: dict[tuple[str, str], dict] = {}
    for line in lines:
        lane = (line.get("service") or "", line.get("env") or DEFAULT_ENV)  # no env: the default
        if line["kind"] == "promotion" and line["result"] == "success":
            last_pinned[lane] = line
            if line.get("release_id"):
                by_release[(*lane, line["release_id"])] = line
        elif line["kind"] == "smoke":
            last_smoke[lane] = line
        elif line["kind"] == "imported" and line["seq"] in legacy:
            past = legacy[line["seq"]]
            if past["release_id"]:
                by_release.setdefault((past["service"], past["env"], past["release_id"]), line)
    table = []
    for row in rows:
        lane = (row["service"], row["env"])
        evidence = last_pinned.get(lane)
        agrees = None  # does the pin agree with the lane's last successful promotion record?
        if row.get("target"):
            row = {**row, "target": without_root(row["target"], repo)}
        if _is_digest(row["pinned"]) and evidence and evidence.get("digest"):
            agrees = row["pinned"] == evidence["digest"]
        table.append(
            {
                "service": row["service"],
                "env": row["env"],
                "status": row,
                "pinned": by_release.get((*lane, row["release_id"])) if row["release_id"] else None,
                "last_smoke": last_smoke.get(lane),
                "pin_matches_evidence": agrees,
            }
        )
    return table


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and value.startswith("sha256:")
