"""deploy/k8s: the Kubernetes schemas (offline, strict), kustomize, and the rules of issue 9."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.deploy import k8s_rules as rules
from tests.deploy import settings_env
from tests.deploy.tools import K8S, KUSTOMIZATION, SECRET_TEMPLATE, binary, k8s_docs, k8s_files, process_of, run

COMPONENT = "app.kubernetes.io/component"


def kubernetes_validate(*paths) -> tuple[int, str]:
    result = run([binary("kubernetes-validate"), "--strict", "--quiet", *map(str, paths)])
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return k8s_docs()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[list[dict], str]:
    """What `kubectl apply -k deploy/k8s` would send, rendered offline by kubectl's kustomize."""
    result = run([binary("kubectl"), "kustomize", str(K8S)])
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("kustomize") / "rendered.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    return [d for d in yaml.safe_load_all(result.stdout) if d], str(path)


def test_every_manifest_passes_the_kubernetes_schemas_strictly():
    code, output = kubernetes_validate(*k8s_files())
    assert code == 0, output


def test_the_kustomize_render_passes_the_schemas_and_lists_every_manifest_but_the_secret_template(rendered):
    objects, path = rendered
    code, output = kubernetes_validate(path)
    assert code == 0, output
    listed = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))["resources"]
    assert sorted(listed) == sorted(p.name for p in k8s_files() if p != SECRET_TEMPLATE)
    assert not rules.by_kind(objects, "Secret"), "the Secret template must never be applied"
    assert all(o["metadata"].get("namespace", "moncompte") == "moncompte" for o in objects)
    images = {c["image"] for o in objects if o["kind"] in ("Deployment", "Job")
              for c in o["spec"]["template"]["spec"]["containers"]}
    tag = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))["images"][0]["newTag"]
    assert images == {f"moncompte:{tag}"}  # one image, one tag per release


BROKEN_COPIES = [
    ("terminationGracePeriodSeconds:", "terminationGracePeriodSecond:", "terminationGracePeriodSecond"),
    ("containerPort: 8080", "containerPort: http", "containerPort"),
    ("maxReplicas: 10", "maxReplicas: ten", "maxReplicas"),
    ("ingressClassName: nginx", "ingressClass: nginx", "ingressClass"),
    ("      containers:", "      containerz:", "containers"),
]


@pytest.fixture(scope="module")
def broken_copies_verdict(tmp_path_factory) -> tuple[int, str, list]:
    """One kubernetes-validate run over one broken copy per mutation (one process: the CPU is shared)."""
    directory = tmp_path_factory.mktemp("broken")
    paths = []
    for index, (old, new, _expected) in enumerate(BROKEN_COPIES):
        source = next(p for p in k8s_files() if old in p.read_text(encoding="utf-8"))
        broken = directory / f"broken{index}-{source.name}"
        broken.write_text(source.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
        paths.append(broken)
    code, output = kubernetes_validate(*paths)
    return code, output, paths


@pytest.mark.parametrize("index", range(len(BROKEN_COPIES)))
def test_kubernetes_validate_refuses_a_broken_copy(broken_copies_verdict, index):
    code, output, paths = broken_copies_verdict
    assert code != 0
    errors = [line for line in output.splitlines() if line.startswith(f"ERROR {paths[index]} ")]
    assert errors, output
    assert BROKEN_COPIES[index][2] in " ".join(errors)


def test_every_process_has_a_workload_that_keeps_the_rules(docs):
    assert rules.workload_problems(docs) == []
    assert rules.job_problems(docs) == []
    deployed = {process_of(d["spec"]["template"]["spec"]["containers"][0]["command"])[0]
                for d in rules.by_kind(docs, "Deployment")}
    assert deployed == set(settings_env.process_modules())


def _deployment(docs, name):
    return next(d for d in rules.by_kind(docs, "Deployment") if d["metadata"]["name"] == name)


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe"), "no readiness probe"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"].update(path="/"),
     "no liveness probe"),
    (lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
     "read-only"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(volumeMounts=[]), "emptyDir"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"].pop("limits"), "limits"),
    (lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30), "terminationGracePeriod"),
    (lambda d: d["spec"]["template"]["metadata"]["annotations"].pop("prometheus.io/scrape"), "Prometheus"),
    (lambda d: d["spec"].update(replicas=3), "HPA owns it"),
    (lambda d: d["spec"]["template"]["metadata"]["labels"].update({COMPONENT: "other"}), "selector"),
])
def test_the_rules_refuse_a_broken_deployment(docs, mutate, expected):
    broken = copy.deepcopy(docs)
    mutate(_deployment(broken, "identity"))
    found = rules.workload_problems(broken)
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize("kind", ["Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"])
def test_a_deployment_without_its_companion_object_is_refused(docs, kind):
    broken = [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"] == "documents")]
    assert any(problem.startswith("documents: no") for problem in rules.workload_problems(broken))


def test_documents_waits_longer_than_its_own_shutdown_timeout(docs):
    # documents streams large files and ZIPs: its own SHUTDOWN_TIMEOUT_SECONDS, its own grace.
    broken = copy.deepcopy(docs)
    env = _deployment(broken, "documents")["spec"]["template"]["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "SHUTDOWN_TIMEOUT_SECONDS")["value"] = "600"
    assert any("documents: terminationGracePeriodSeconds" in p for p in rules.workload_problems(broken))


def test_the_migration_job_migrates_every_database(docs):
    jobs = rules.by_kind(docs, "Job")
    assert len(jobs) == 1
    commands = [process_of(c["command"]) for c in jobs[0]["spec"]["template"]["spec"]["containers"]]
    with_database = {module for module in settings_env.process_modules()
                     if "database_url" in settings_env.settings_class(module).model_fields}
    assert sorted(commands) == sorted((module, "migrate") for module in with_database)
    assert jobs[0]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_ingress_reaches_the_gateway_and_only_files_go_straight_to_documents(docs):
    (ingress,) = rules.by_kind(docs, "Ingress")
    routes = {(p["path"], p["pathType"]): p["backend"]["service"]["name"]
              for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert routes == {("/", "Prefix"): "gateway", ("/files/", "Prefix"): "documents"}
    assert ingress["spec"]["tls"]


def _pod_labels(docs, component):
    return _deployment(docs, component)["spec"]["template"]["metadata"]["labels"]


def test_network_policies_let_in_only_the_gateway_from_outside_and_services_from_moncompte_pods(docs):
    policies = rules.by_kind(docs, "NetworkPolicy")
    ingress_ns = {"kubernetes.io/metadata.name": "ingress-nginx"}
    monitoring_ns = {"kubernetes.io/metadata.name": "monitoring"}
    other_ns = {"kubernetes.io/metadata.name": "somebody-else"}
    ports = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
             for d in rules.by_kind(docs, "Deployment")}
    scrape_ports = {d["metadata"]["name"]: rules.metrics_port(d["spec"]["template"]["spec"]["containers"][0])
                    for d in rules.by_kind(docs, "Deployment")}

    def can(source_labels, source_ns, target, *, same_namespace=False, port=None):
        return rules.reachable(policies, target=_pod_labels(docs, target), port=port or ports[target],
                               source_labels=source_labels, source_namespace=source_ns, same_namespace=same_namespace)

    outsider = {"app": "anything"}
    for target in ports:
        # From the ingress controller: the gateway, and documents for the signed /files/ URLs.
        assert can(outsider, ingress_ns, target) == (target in ("gateway", "documents")), target
        assert not can(outsider, other_ns, target), target
        assert can(outsider, monitoring_ns, target, port=scrape_ports[target]), f"Prometheus cannot scrape {target}"
        if scrape_ports[target] != ports[target]:  # metrics apart: the public port stays closed to it
            assert not can(outsider, monitoring_ns, target), target
        # Inside the namespace: only moncompte pods, never a stranger pod.
        assert not can(outsider, {"kubernetes.io/metadata.name": "moncompte"}, target, same_namespace=True), target
        if target != "gateway":
            for source in ports:
                assert can(_pod_labels(docs, source), {}, target, same_namespace=True), (source, target)


def test_the_secret_template_holds_no_real_secret():
    from common.settings import PLACEHOLDER_MARKERS

    (secret,) = k8s_docs([SECRET_TEMPLATE])
    assert secret["kind"] == "Secret" and secret["stringData"]
    for key, value in secret["stringData"].items():
        assert any(marker in value.lower() for marker in PLACEHOLDER_MARKERS), f"{key} looks like a real value"


def test_an_allow_all_policy_would_open_the_services_to_strangers(docs):
    allow_all = {"kind": "NetworkPolicy", "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}
    policies = [*rules.by_kind(docs, "NetworkPolicy"), allow_all]
    stranger = {"source_labels": {"app": "x"}, "source_namespace": {"kubernetes.io/metadata.name": "elsewhere"}}
    identity = _pod_labels(docs, "identity")
    assert not rules.reachable(rules.by_kind(docs, "NetworkPolicy"), target=identity, port=8081, same_namespace=False,
                               **stranger)
    assert rules.reachable(policies, target=identity, port=8081, same_namespace=False, **stranger)


def test_identity_hashes_on_as_many_threads_as_its_cpu_limit(docs):
    # The process sees the node's cores, not its limit: more threads than the limit only queue.
    container = _deployment(docs, "identity")["spec"]["template"]["spec"]["containers"][0]
    workers = next(e["value"] for e in container["env"] if e["name"] == "IDENTITY_HASH_WORKERS")
    assert int(workers) == int(container["resources"]["limits"]["cpu"])


def test_the_ingress_accepts_the_largest_body_the_gateway_accepts(docs):
    from gateway.settings import GatewaySettings

    (ingress,) = rules.by_kind(docs, "Ingress")
    limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert limit.endswith("m")
    gateway_limit = GatewaySettings.model_fields["max_api_body_bytes"].default
    assert int(limit[:-1]) * 1024 * 1024 >= gateway_limit
