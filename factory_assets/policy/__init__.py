"""Promotion policy as plain functions of a clock the caller passes: windows, soak, auto rollback.

Nothing here reads the repository or imports Dagster: the engine, the CLI and the tests hand
in what they know (the time, the lane's smoke checks, its releases) and get a decision back.
"""
