"""The dev -> prod pipeline: stages declared in factory.yaml, gated by smoke and approval.

`handoff` queues a stage's request once its upstream pin passed smoke; `approval` records who
let a stage request through (or rejected it); `rollback` requests the last good digest again.
"""
