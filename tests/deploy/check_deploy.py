#!/usr/bin/python3
"""Checks of deploy/helm/meshtrace and dashboards/ with the real tools.

helm lint/template (default values and every toggle on), every rendered manifest checked field
by field against the Kubernetes API models (python3-kubernetes) and by yamllint, the values
schema rejecting bad values, promtool on the alert rules (check + unit tests), the chart's copy
of the rules equal to dashboards/, every dashboard expression parsed by promtool.

Usage: check_deploy.py REPO_ROOT
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import kubernetes
import yaml

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.getcwd()
HELM = os.path.join(ROOT, ".cache/helm/helm")
CHART = os.path.join(ROOT, "deploy/helm/meshtrace")
RULES = os.path.join(ROOT, "dashboards/meshtrace-rules.yaml")
ALL_ON = [
    "examples.actor.enabled=true",
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.podMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
    "collector.apiToken.secretName=meshtrace-token",
    "collector.tls.secretName=meshtrace-tls",
    "collector.maxDisk=18GiB",
    "collector.persistence.storageClass=fast",
    "sidecar.redactKey.secretName=meshtrace-redact",
    "sidecar.redact=$.payload.card",
    "sidecar.collectorCA.secretName=meshtrace-ca",
    "tap.namespaces={payments,crew}",
]


def run(args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def render(sets=()):
    args = [HELM, "template", "rel", CHART, "--namespace", "mesh"]
    for s in sets:
        args += ["--set", s]
    return run(args).stdout


MODELS = {
    ("v1", "Service"): "V1Service",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Secret"): "V1Secret",
    ("v1", "ConfigMap"): "V1ConfigMap",
}


def model_errors(value, type_name, path):
    """Every key of `value` that the Kubernetes model `type_name` does not have, recursively."""
    errors = []
    if value is None:
        return errors
    m = re.match(r"list\[(.+)\]$", type_name)
    if m:
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        for i, item in enumerate(value):
            errors += model_errors(item, m.group(1), f"{path}[{i}]")
        return errors
    m = re.match(r"dict\(str, (.+)\)$", type_name)
    if m:
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        for k, v in value.items():
            errors += model_errors(v, m.group(1), f"{path}.{k}")
        return errors
    if type_name in ("str", "int", "bool", "float", "object", "datetime"):
        if type_name == "int" and not isinstance(value, int) and not (isinstance(value, str) and path.endswith("port")):
            errors.append(f"{path}: expected an integer, got {value!r}")
        if type_name == "bool" and not isinstance(value, bool):
            errors.append(f"{path}: expected true/false, got {value!r}")
        if type_name == "str" and isinstance(value, (dict, list)):
            errors.append(f"{path}: expected a string")
        return errors
    klass = getattr(kubernetes.client.models, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name})"]
    by_json = {v: k for k, v in klass.attribute_map.items()}
    for key, sub in value.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: not a field of {type_name}")
            continue
        errors += model_errors(sub, klass.openapi_types[by_json[key]], f"{path}.{key}")
    return errors


class ChartTest(unittest.TestCase):
    def docs(self, sets=()):
        return [d for d in yaml.safe_load_all(render(sets)) if d]

    def test_lint_strict_default_and_all_toggles(self):
        run([HELM, "lint", "--strict", CHART])
        args = [HELM, "lint", "--strict", CHART]
        for s in ALL_ON:
            args += ["--set", s]
        run(args)

    def test_manifests_match_the_kubernetes_models(self):
        for sets in ((), ALL_ON):
            for doc in self.docs(sets):
                key = (doc["apiVersion"], doc["kind"])
                if doc["apiVersion"].startswith("monitoring.coreos.com/"):
                    continue  # CRDs: checked below
                self.assertIn(key, MODELS, f"unexpected object {key}")
                errors = model_errors(doc, MODELS[key], doc["kind"])
                self.assertEqual(errors, [], f"{doc['kind']} {doc['metadata']['name']}")

    def test_default_render_has_the_collector_and_nothing_optional(self):
        kinds = sorted(d["kind"] for d in self.docs())
        self.assertEqual(kinds, ["Service", "StatefulSet"])

    def test_collector_statefulset(self):
        sts = next(d for d in self.docs(ALL_ON) if d["kind"] == "StatefulSet")
        pod = sts["spec"]["template"]["spec"]
        c = pod["containers"][0]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
        self.assertIn("--grpc-listen=0.0.0.0:7700", c["args"])
        self.assertIn("--max-disk=18GiB", c["args"])
        self.assertIn("--tls-cert=/etc/meshtrace/tls/tls.crt", c["args"])
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS")
        self.assertEqual(c["env"][0]["valueFrom"]["secretKeyRef"]["name"], "meshtrace-token")
        self.assertIn("limits", c["resources"])
        claim = sts["spec"]["volumeClaimTemplates"][0]
        self.assertEqual(claim["spec"]["resources"]["requests"]["storage"], "20Gi")
        self.assertEqual(claim["spec"]["storageClassName"], "fast")

    def test_sidecar_template_renders_every_setting(self):
        deploy = next(d for d in self.docs(ALL_ON) if d["kind"] == "Deployment")
        pod = deploy["spec"]["template"]["spec"]
        sidecar = next(c for c in pod["containers"] if c["name"] == "meshtrace-sidecar")
        names = {e["name"] for e in sidecar["env"]}
        # Every setting the sidecar reads (sidecar/config.cc, and the event settings it shares
        # with the tap in events/event_settings.cc).
        settings = set()
        for source in ("sidecar/config.cc", "events/event_settings.cc"):
            with open(os.path.join(ROOT, source)) as f:
                settings |= set(re.findall(r'\{"((?:ASYA|MESHTRACE)_[A-Z_]+)", "', f.read()))
        self.assertTrue(settings)
        self.assertEqual(settings - names, set())
        env = {e["name"]: e.get("value") for e in sidecar["env"]}
        self.assertEqual(env["MESHTRACE_COLLECTOR"], "rel-meshtrace-collector.mesh.svc:7700")
        self.assertEqual(env["ASYA_ACTOR_NAME"], "echo")
        self.assertEqual(env["MESHTRACE_REDACT"], "$.payload.card")
        self.assertEqual(sidecar["ports"][0]["name"], "metrics")
        self.assertEqual(sidecar["livenessProbe"]["httpGet"]["port"], "metrics")
        mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
        self.assertEqual(mounts["asya-socket"], "/var/run/asya")
        runtime = next(c for c in pod["containers"] if c["name"] == "runtime")
        self.assertEqual(runtime["volumeMounts"][0]["name"], "asya-socket")
        self.assertEqual(pod["volumes"][0], {"name": "asya-socket", "emptyDir": {}})
        self.assertEqual(env["MESHTRACE_COLLECTOR_CA"], "/etc/meshtrace/collector-ca/ca.crt")
        self.assertEqual(mounts["meshtrace-collector-ca"], "/etc/meshtrace/collector-ca")
        self.assertEqual(pod["volumes"][1]["secret"]["secretName"], "meshtrace-ca")
        self.assertEqual(deploy["spec"]["template"]["metadata"]["labels"]["meshtrace.io/sidecar"], "true")

    def test_monitoring_objects(self):
        docs = {d["kind"]: d for d in self.docs(ALL_ON)}
        self.assertEqual(docs["ServiceMonitor"]["spec"]["endpoints"][0]["port"], "http")
        self.assertEqual(docs["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"], "metrics")
        with open(RULES) as f:
            rules = yaml.safe_load(f)
        self.assertEqual(docs["PrometheusRule"]["spec"], rules)

    def test_chart_rules_copy_is_identical(self):
        with open(RULES) as a, open(os.path.join(CHART, "files/meshtrace-rules.yaml")) as b:
            self.assertEqual(a.read(), b.read(), "copy dashboards/meshtrace-rules.yaml into the chart's files/")

    def test_bad_values_fail_at_install_time_naming_the_value(self):
        for bad, named in [
            ("collector.replicas=notanumber", "/collector/replicas"),
            ("sidecar.capture=everything", "/sidecar/capture"),
            ("collector.retention=3days", "/collector/retention"),
            ("colector.replicas=2", "colector"),
            ("collector.persistence.size=lots", "/collector/persistence/size"),
        ]:
            r = run([HELM, "template", "rel", CHART, "--set", bad], check=False)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(named, r.stderr, bad)

    def test_tap_settings_render_per_actor_namespace(self):
        maps = [d for d in self.docs(["tap.namespaces={payments,crew}", "tap.capture=metadata"])
                if d["kind"] == "ConfigMap"]
        self.assertEqual(sorted(m["metadata"]["namespace"] for m in maps), ["crew", "payments"])
        data = maps[0]["data"]
        self.assertEqual(data["MESHTRACE_COLLECTOR"], "rel-meshtrace-collector.mesh.svc:7700")
        self.assertEqual(data["MESHTRACE_CAPTURE"], "metadata")
        # Every key is a setting the tap reads.
        settings = set()
        for source in ("tap/tap_config.cc", "events/event_settings.cc"):
            with open(os.path.join(ROOT, source)) as f:
                settings |= set(re.findall(r'\{"((?:ASYA|MESHTRACE)_[A-Z_]+)", ', f.read()))
        self.assertEqual(set(data) - settings, set())
        notes = run([HELM, "install", "--dry-run", "rel", CHART, "--set",
                     "tap.namespaces={payments}"]).stdout
        self.assertIn("pythonExecutable: /opt/meshtrace/bin/meshtrace-tap", notes)
        self.assertIn("configMapKeyRef: {name: rel-meshtrace-tap, key: MESHTRACE_COLLECTOR}", notes)

    def test_redaction_without_a_key_is_refused(self):
        r = run([HELM, "template", "rel", CHART, "--set", "examples.actor.enabled=true",
                 "--set", "sidecar.redact=$.payload.card"], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("sidecar.redactKey.secretName", r.stderr)

    def test_yamllint_on_rendered_manifests(self):
        config = "{extends: relaxed, rules: {line-length: disable, document-start: disable}}"
        for sets in ((), ALL_ON):
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                f.write(render(sets))
                f.flush()
                r = run(["yamllint", "-f", "parsable", "-d", config, f.name], check=False)
                self.assertEqual(r.returncode, 0, r.stdout)

    def test_notes_name_the_ui_and_the_cli(self):
        r = run([HELM, "install", "rel", CHART, "--dry-run=client", "--namespace", "mesh"])
        self.assertIn("port-forward svc/rel-meshtrace-collector 7701 7700", r.stdout)
        self.assertIn("meshtrace traces --outcome failed", r.stdout)


class RulesTest(unittest.TestCase):
    def test_promtool_check_and_unit_tests(self):
        run(["promtool", "check", "rules", RULES])
        run(["promtool", "test", "rules", os.path.join(ROOT, "dashboards/tests/meshtrace-rules.test.yaml")])

    def test_rules_yamllint(self):
        run(["yamllint", "-d", "{extends: relaxed, rules: {line-length: {max: 120}}}", RULES])


def dashboard_exprs(path):
    with open(path) as f:
        d = json.load(f)
    return d, [(p["title"], t["expr"]) for p in d["panels"] for t in p["targets"]]


def concrete(expr):
    return (expr.replace("$__rate_interval", "1m").replace("$namespace", ".*").replace("$actor", ".*"))


class DashboardTest(unittest.TestCase):
    def test_every_expression_parses(self):
        for name in ("asya-actors.json", "meshtrace-pipeline.json"):
            d, exprs = dashboard_exprs(os.path.join(ROOT, "dashboards", name))
            self.assertGreaterEqual(len(exprs), 8, name)
            rules = {"groups": [{"name": "dashboard", "rules": [
                {"record": f"panel:{i}", "expr": concrete(e)} for i, (_, e) in enumerate(exprs)]}]}
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                yaml.safe_dump(rules, f)
                f.flush()
                run(["promtool", "check", "rules", f.name])
            variables = {v["name"] for v in d["templating"]["list"]}
            self.assertIn("datasource", variables)
            self.assertIn("namespace", variables)
            for p in d["panels"]:
                self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])

    def test_actor_dashboard_has_the_failure_panels_linked_to_the_ui(self):
        d, exprs = dashboard_exprs(os.path.join(ROOT, "dashboards/asya-actors.json"))
        self.assertIn("actor", {v["name"] for v in d["templating"]["list"]})
        failures = next(p for p in d["panels"] if p["title"] == "Failures by reason")
        self.assertIn("by (queue, reason)", failures["targets"][0]["expr"])
        self.assertIn("${collector_url}/?outcome=failed&actor=${actor}", failures["links"][0]["url"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
