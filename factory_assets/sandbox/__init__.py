"""Real local stand-ins the demo, the benches and the tests run the factory against, all on loopback.

`registry_server` starts Debian's docker-registry (the distribution engine inside Harbor),
`oci_push` pushes images to it through the OCI upload API, `gitops_remote` makes a scratch
GitOps repository with a bare remote, and `dagster_processes` runs the Dagster daemon and
webserver on this checkout's workspace. Nothing here is used by the factory itself.
"""
