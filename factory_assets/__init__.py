"""factory: a release control plane for a GitOps deploy repository, as a Dagster asset graph."""
