"""Where things live in a deploy repository, and in what format: the one seam between layouts.

`config` reads `factory.yaml` (absent: the factory's own layout), `service_map` reads the
repository's service map, `targets` answers "where does (service, env) get pinned, verified
and deployed", and `four_lists` is the queue codec of the four-list format. The layout says
which file holds a pin; `factory_assets.pins` reads and writes it. Nothing above these
packages knows a path.
"""
