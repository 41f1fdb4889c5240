"""The Kubernetes Pod Security Standards' "restricted" profile (v1.30), checked on a manifest,
plus what the factory asks beyond it: the image's user 10001, a read-only root file system and
stated requests and limits.

Restated from https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the
baseline controls, then the restricted ones); the admission plugin is not available offline.
"""

from __future__ import annotations

FACTORY_USER = 10001
# Restricted: only these volume types.
VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec") or {}
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def _containers(pod: dict) -> list[tuple[str, dict]]:
    return [
        (f"{key}[{c.get('name')}]", c)
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in pod.get(key) or []
    ]


def restricted_violations(obj: dict) -> list[str]:
    """Each way `obj`'s pod breaks the restricted profile (empty: it passes)."""
    pod = pod_spec(obj)
    if pod is None:
        return []
    out: list[str] = []
    pod_ctx = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            out.append(f"spec.{flag} is set")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            out.append(f"volume {volume.get('name')}: type {sorted(kinds)} is not allowed")
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"sysctl {sysctl.get('name')} is not a safe one")
    if pod_ctx.get("runAsUser") == 0:
        out.append("securityContext.runAsUser is 0")
    for where, container in _containers(pod):
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged"):
            out.append(f"{where}: privileged")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{where}: hostProcess")
        if ctx.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation must be false")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}: capabilities.drop must include ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{where}: capabilities.add beyond NET_BIND_SERVICE")
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if ctx.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser is 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
        if ctx.get("procMount", "Default") != "Default":
            out.append(f"{where}: procMount must be Default")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{where}: hostPort {port['hostPort']}")
    return out


def factory_violations(obj: dict) -> list[str]:
    """What the factory asks beyond the profile: user 10001, read-only root, requests and limits."""
    pod = pod_spec(obj)
    if pod is None:
        return []
    out: list[str] = []
    pod_ctx = pod.get("securityContext") or {}
    for where, container in _containers(pod):
        ctx = container.get("securityContext") or {}
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) != FACTORY_USER:
            out.append(f"{where}: must run as the image's user {FACTORY_USER}")
        if ctx.get("readOnlyRootFilesystem") is not True:
            out.append(f"{where}: readOnlyRootFilesystem must be true")
        res = container.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (res.get(part) or {}).get(resource):
                    out.append(f"{where}: resources.{part}.{resource} is not stated")
    return out


def writable_paths(obj: dict) -> dict[str, set[str]]:
    """Container name -> the mount paths it may write (everything else is the read-only root)."""
    pod = pod_spec(obj) or {}
    return {
        c["name"]: {m["mountPath"] for m in c.get("volumeMounts") or [] if not m.get("readOnly")}
        for _, c in _containers(pod)
    }
