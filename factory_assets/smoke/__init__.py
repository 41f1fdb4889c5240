"""Post-deploy smoke checks: Argo CD health at the pinned revision, or HTTP readiness.

Entry points for the CLI and the Dagster asset are in `check.py`
(`check_service`, `check_services`); the verdict rules are pure functions in
`argocd_verdict.py` and `readiness.py`, the loop in `poll.py`.
"""
