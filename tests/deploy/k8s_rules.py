"""Rules of issue 9 for the Kubernetes objects that the schemas cannot express.

``workload_problems(docs)`` returns one line per broken rule, so a test can feed a broken copy
and see it refused. ``reachable(...)`` evaluates the NetworkPolicies for one connection.
"""

from __future__ import annotations

from tests.deploy.tools import process_of

DEFAULT_SHUTDOWN_SECONDS = 30.0


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def _matches(selector: dict, labels: dict) -> bool:
    """Kubernetes label selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not ok:
            return False
    return True


def _env_value(container: dict, configmap: dict, name: str) -> str | None:
    for item in container.get("env") or []:
        if item["name"] == name:
            return item.get("value")
    return (configmap.get("data") or {}).get(name)


def _probe_path(probe: dict | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def _pre_stop_seconds(container: dict) -> float:
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = (pre_stop.get("exec") or {}).get("command") or []
    return float(command[1]) if command[:1] == ["sleep"] else 0.0


def _pod_problems(name: str, pod: dict) -> list[str]:
    found = []
    security = pod.get("securityContext") or {}
    if not security.get("runAsNonRoot"):
        found.append(f"{name}: pod securityContext.runAsNonRoot is not true")
    if pod.get("automountServiceAccountToken") is not False:
        found.append(f"{name}: the service account token is mounted (the services never call the API)")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for container in pod["containers"]:
        context = container.get("securityContext") or {}
        if not context.get("readOnlyRootFilesystem"):
            found.append(f"{name}/{container['name']}: root filesystem is not read-only")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}/{container['name']}: privilege escalation is allowed")
        tmp = [m for m in container.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]  # noqa: S108
        if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
            found.append(f"{name}/{container['name']}: no emptyDir mounted on /tmp")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(kind) or {}):
                found.append(f"{name}/{container['name']}: {kind} lack cpu or memory")
    return found


def workload_problems(docs: list[dict]) -> list[str]:
    """Every rule of the issue that the Deployments (and their Service, HPA, PDB) break."""
    found = []
    configmaps = by_kind(docs, "ConfigMap")
    configmap = configmaps[0] if configmaps else {}
    for deployment in by_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        if not _matches(deployment["spec"]["selector"], labels):
            found.append(f"{name}: the selector does not match the pod labels")
        found += _pod_problems(name, pod)
        container = pod["containers"][0]
        port = container["ports"][0]["containerPort"]
        if _probe_path(container.get("livenessProbe")) != "/health/live":
            found.append(f"{name}: no liveness probe on /health/live")
        if _probe_path(container.get("readinessProbe")) != "/health/ready":
            found.append(f"{name}: no readiness probe on /health/ready")
        shutdown = float(_env_value(container, configmap, "SHUTDOWN_TIMEOUT_SECONDS") or DEFAULT_SHUTDOWN_SECONDS)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= shutdown + _pre_stop_seconds(container):
            found.append(f"{name}: terminationGracePeriodSeconds {grace} is not longer than preStop + "
                         f"SHUTDOWN_TIMEOUT_SECONDS {shutdown:g}: in-flight requests would be killed")
        # A process may serve /metrics on a port of its own (the gateway: never on the public one).
        scrape_port = metrics_port(container)
        if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(
                scrape_port) or annotations.get("prometheus.io/path") != "/metrics":
            found.append(f"{name}: Prometheus scrape annotations missing or not on port {scrape_port}")
        process = process_of(container.get("command"))
        if not process or process[1] != "serve":
            found.append(f"{name}: the container does not run `python -m <service>`")
        services = [s for s in by_kind(docs, "Service") if _matches({"matchLabels": s["spec"].get("selector")}, labels)]
        if not services:
            found.append(f"{name}: no Service selects its pods")
        elif all(p.get("targetPort") not in (port, container["ports"][0].get("name"))
                 for s in services for p in s["spec"]["ports"]):
            found.append(f"{name}: its Service does not target port {port}")
        hpas = [h for h in by_kind(docs, "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
        if not hpas:
            found.append(f"{name}: no HorizontalPodAutoscaler")
        elif hpas[0]["spec"].get("minReplicas", 1) < 2:
            found.append(f"{name}: minReplicas below 2 (a single pod cannot keep a PodDisruptionBudget)")
        if "replicas" in deployment["spec"] and hpas:
            found.append(f"{name}: `replicas` is set while an HPA owns it (each apply would reset the scale)")
        if not [p for p in by_kind(docs, "PodDisruptionBudget") if _matches(p["spec"]["selector"], labels)]:
            found.append(f"{name}: no PodDisruptionBudget")
    return found


def job_problems(docs: list[dict]) -> list[str]:
    found = []
    for job in by_kind(docs, "Job"):
        found += _pod_problems(job["metadata"]["name"], job["spec"]["template"]["spec"])
    return found


def reachable(policies: list[dict], *, target: dict, port: int, source_labels: dict, source_namespace: dict,
              same_namespace: bool) -> bool:
    """Whether NetworkPolicies let a pod (labels, namespace labels) connect to ``target`` pod labels on ``port``."""
    selecting = [p for p in policies if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and _matches(p["spec"]["podSelector"], target)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get("from")
            if peers is None:
                return True
            for peer in peers:
                pod_ok = "podSelector" not in peer or _matches(peer["podSelector"], source_labels)
                if "namespaceSelector" in peer:
                    ns_ok = _matches(peer["namespaceSelector"], source_namespace)
                else:
                    ns_ok = same_namespace  # a bare podSelector means this namespace
                if pod_ok and ns_ok and ("podSelector" in peer or "namespaceSelector" in peer):
                    return True
    return False


def metrics_port(container: dict) -> int:
    """The container port named ``metrics``, else the first one (services serve /metrics on it)."""
    ports = container["ports"]
    return next((p["containerPort"] for p in ports if p.get("name") == "metrics"), ports[0]["containerPort"])
