"""The steps of a promotion pass, Kargo style: one module per step, named for what it does.

    claim    (git transaction 1)  plan on the fresh head and write its decisions: claim the
                                  newest ready entry per lane, supersede older ones, release
                                  stale claims, fail malformed entries, compact old ones
    resolve  (registry, no git)   resolve each claim's tag or digest to a verified digest
    pin      (git transaction 2)  write each pin through its lane's pin target; entries
                                  become `promoted`
    recover  (registry, no git)   a pin an earlier runner pushed but never recorded: find its
                                  commit and verify its digest again
    record   (git transaction 3)  one evidence record per attempt and decision; entries get
                                  `evidence`, failures back-off or `failed`

Each step takes the pass (`results.PassRun`: who runs it, when, and its frozen
`PassConfig`) and returns a typed result (`results`). The apply functions (claim, pin,
record) run inside the writer on a clean tree at the fresh remote head, possibly more than
once; they check that each entry is still in the state this runner left it in before
touching it. `promote_pass.run_pass` runs them in order.
"""
