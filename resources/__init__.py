"""Clients for the systems the factory talks to: the OCI registry (Harbor), Argo CD, git, GitHub.

Plain Python, no Dagster: the Dagster layer wraps them as resources.
"""
