"""Auto-repair: run mechanical checks, apply the recipes that fix them, guard the patch, escalate the rest.

Plain Python (no Dagster). The loop is in `loop.py`, escalation to GitHub issues in `escalate.py`.
"""
