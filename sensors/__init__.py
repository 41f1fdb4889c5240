"""Dagster sensors: thin wrappers that read the repo and registry and request runs."""
