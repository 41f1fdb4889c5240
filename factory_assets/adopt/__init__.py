"""`factory adopt`: bring an existing deploy repository (the ljwx-deploy layout) under the factory.

Plain domain logic, no Dagster: `detect` reads what the repository has and `clusters` what each
cluster runs; `steps` turn that into the plan's changes, each with its bytes (`runners` and
`dagster_runtime` write each cluster's runtime, `pods` what every pod shares); `apply` makes
exactly those changes as one commit on a new local branch (`changes` checks them).
"""
