"""Dev pins: `envs/dev/<service>.yaml` round-trip, and kustomize `images:` write-through."""
