"""An Argo CD stand-in that reconciles like the real one: it follows the git remote's head and
reports, for each Application, what kustomize renders from its overlay there.

It drives the contract-faithful HTTP double (`tests/doubles/argocd.py`): sync status Synced
at the head revision, Healthy, and `status.summary.images` as rendered by `kubectl
kustomize`, so the smoke check's revision and digest rules are exercised for real.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from pathlib import Path

from tests.doubles.argocd import ArgoCDDouble, app_status
from tests.support.ljwx import render


class Reconciler:
    """A thread that, every `interval` seconds, syncs each app to the remote's head."""

    def __init__(self, double: ArgoCDDouble, bare: Path, apps: dict[str, str], interval=0.5):
        self.double, self.bare, self.apps, self.interval = double, bare, apps, interval
        self._stop = threading.Event()
        self._seen: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Reconciler:
        self.sync_once()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
            except subprocess.CalledProcessError:
                continue  # a push in flight: the next look sees a whole commit

    def sync_once(self) -> None:
        head = subprocess.run(
            ["git", "--git-dir", str(self.bare), "rev-parse", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        with tempfile.TemporaryDirectory(prefix="argocd-") as tmp:
            subprocess.run(
                [
                    "git",
                    "--git-dir",
                    str(self.bare),
                    "--work-tree",
                    tmp,
                    "checkout",
                    "-f",
                    head,
                    "--",
                    "apps",
                ],
                capture_output=True,
                check=True,
            )
            for app, overlay in self.apps.items():
                out = render(Path(tmp) / overlay)
                images = tuple(
                    sorted(
                        {
                            line.split("image:", 1)[1].strip()
                            for line in out.splitlines()
                            if "image:" in line
                        }
                    )
                )
                if self._seen.get(app) == (head, images):
                    continue
                self._seen[app] = (head, images)
                status = app_status(revision=head, images=list(images))
                try:
                    self.double.replace_status(app, status)
                except KeyError:  # the first look at this app
                    self.double.set_app(app, status)
