"""`factory adopt`: bring an existing deploy repository (the ljwx-deploy layout) under the factory.

Plain domain logic, no Dagster: `detect` reads what the repository has, `plan` says what
changes and why, `apply` makes those changes as one commit on a new local branch.
"""
