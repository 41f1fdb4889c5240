"""Where things live in a deploy repository, and in what format: the one seam between layouts.

`config` reads `factory.yaml` (absent: the factory's own layout), `service_map` reads the
repository's service map, `targets` answers "where does (service, env) get pinned, verified
and deployed", `four_lists` is the queue codec of the four-list format, and `overlay_pin`
writes and proves an overlay `images:` entry. Nothing above this package knows a path.
"""
