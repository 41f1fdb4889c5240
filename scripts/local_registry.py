"""Start a local OCI registry (docker-registry) on a loopback port and keep it running.

    .venv/bin/python scripts/local_registry.py [DATA_DIR]

Prints the URL to use as HARBOR_URL; Ctrl-C stops it. Handy to watch a promotion in the UI.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from factory_assets.sandbox.oci_push import push_image  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402


def main() -> int:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else ".demo/registry-live").resolve()
    # `kill` (SIGTERM) stops the registry too, as Ctrl-C does: no orphaned docker-registry.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    server = RegistryServer(data, "none").start()
    digest = push_image(server, "demo/api", "live", content=f"api built at {time.time()}".encode())
    print(f"HARBOR_URL={server.url}")
    print(f"pushed {server.image('demo/api')}:live -> {digest}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
