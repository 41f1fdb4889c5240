"""Pins: reading and writing what a lane runs; `layout` says which file holds it.

`pin_file` is `envs/<env>/<service>.yaml` (strict model, round-trip render), `write` writes
it with its kustomize write-through (`kustomize`), `overlay_entry` writes and proves an
overlay `images:` entry, and `lane_view` is the lenient read of what runs in a lane.
"""
