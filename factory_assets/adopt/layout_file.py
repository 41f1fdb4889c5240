"""The `factory.yaml` adopt writes: the layout it found, spelled out with comments saying why."""

from __future__ import annotations

from factory_assets.adopt.detect import Findings
from factory_assets.common import roundtrip_yaml
from factory_assets.layout.config import LAYOUT_FILE, parse_layout


def layout_text(found: Findings) -> str:
    """factory.yaml for `found`; checked against the layout model before it is returned."""
    lines = [
        "# Written by `factory adopt` from what this repository had; edit freely.",
        "# The queue keeps the four lists service CI appends to (release/queue.yaml).",
        f"queue: {{path: {found.queue_path}, format: four-lists}}",
    ]
    if found.profiles:
        lines.append(
            "# Profiles of the map; each cluster's runner picks its own with SERVICE_MAP_PATH:"
        )
        lines += [f"#   {path}" for path in found.profiles]
    lines.append(f"service_map: {found.default_map.path}")
    lines.append("environments:")
    for env in found.envs:
        pins = [p for p in found.hand_pins if p.env == env]
        for pin in pins:
            lines.append(
                f"  # {pin.service} is held: {pin.overlay} pins it by hand (newTag {pin.tag!r})"
            )
        hold = f", hold: [{', '.join(sorted(p.service for p in pins))}]" if pins else ""
        stage = next((s for s in found.stages if s.env == env), None)
        if stage is not None:
            lines.append(
                f"  # fed by {stage.after} as {stage.source} did: a passed {stage.after} smoke "
                f"queues {env}"
                + (f", after tagging {stage.retag}<tag> for replication" if stage.retag else "")
            )
            hold += f", after: {stage.after}"
            hold += f", retag: {stage.retag}" if stage.retag else ""
        lines.append(f"  {env}: {{pins: overlays{hold}}}")
    text = "\n".join(lines) + "\n"
    parse_layout(roundtrip_yaml.loads(text, LAYOUT_FILE), LAYOUT_FILE)  # never write a bad one
    return text
