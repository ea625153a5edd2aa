#!/usr/bin/python3
"""The dashboards against a real Prometheus scraping a real mesh.

Starts, on loopback: the embedded Kafka (`meshtrace dev-kafka`), a collector, actor `a`
(example runtime failing on {"bad": true}) plus x-sink and x-sump, each with
meshtrace-sidecar, and the `prometheus` server scraping the three sidecars and the collector
every second. Sends a known mix of envelopes in two waves (so that counters move while being
scraped), then runs every panel expression of both dashboards through Prometheus's HTTP API:
all must evaluate, and the failure panels must return the expected reasons.

Usage: prometheus_e2e.py BIN_DIR
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_for(what, predicate, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


class MeshWithPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mt-prom-")
        cls.procs = []
        cls.logs = []
        try:
            cls.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def spawn(cls, name, argv, env=None, stdout=None):
        log = open(os.path.join(cls.tmp, name + ".log"), "w")
        cls.logs.append(log)
        p = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=stdout or log,
                             stderr=log, text=True)
        cls.procs.append(p)
        return p

    @classmethod
    def start(cls):
        kafka = cls.spawn("kafka", [f"{BIN}/meshtrace", "dev-kafka", "--topics",
                                    "asya-t-a,asya-t-x-sink,asya-t-x-sump"], stdout=subprocess.PIPE)
        cls.brokers = kafka.stdout.readline().strip()
        cls.grpc, cls.http = free_port(), free_port()
        cls.spawn("collector", [f"{BIN}/meshtrace-collector", "--data-dir", f"{cls.tmp}/data",
                                "--grpc-listen", f"127.0.0.1:{cls.grpc}",
                                "--http-listen", f"127.0.0.1:{cls.http}"])
        cls.metrics = {}
        for actor, args, end in [("a", ["--handler", "enrich", "--fail-when", "bad"], False),
                                 ("x-sink", ["--handler", "echo"], True),
                                 ("x-sump", ["--handler", "echo"], True)]:
            sockets = f"{cls.tmp}/{actor}"
            os.makedirs(sockets)
            cls.spawn(f"{actor}.runtime", [f"{BIN}/meshtrace-example-runtime", "--socket-dir", sockets] + args)
            port = free_port()
            cls.metrics[actor] = port
            cls.spawn(actor, [f"{BIN}/meshtrace-sidecar"], env={
                "ASYA_ACTOR_NAME": actor, "ASYA_NAMESPACE": "t", "ASYA_KAFKA_BROKERS": cls.brokers,
                "ASYA_SOCKET_DIR": sockets, "ASYA_METRICS_ADDR": f"127.0.0.1:{port}",
                "ASYA_IS_END_ACTOR": "true" if end else "false",
                "MESHTRACE_COLLECTOR": f"127.0.0.1:{cls.grpc}", "HOSTNAME": f"{actor}-0"})
        cls.prom_port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "meshtrace-sidecars",
                 "static_configs": [{"targets": [f"127.0.0.1:{p}"], "labels": {"pod": f"{a}-0"}}
                                    for a, p in cls.metrics.items()]},
                {"job_name": "meshtrace-collector",
                 "static_configs": [{"targets": [f"127.0.0.1:{cls.http}"]}]},
            ],
        }
        with open(f"{cls.tmp}/prometheus.yml", "w") as f:
            json.dump(config, f)  # JSON is YAML
        cls.spawn("prometheus", ["prometheus", f"--config.file={cls.tmp}/prometheus.yml",
                                 f"--storage.tsdb.path={cls.tmp}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{cls.prom_port}"])
        wait_for("every target up", lambda: sum(
            float(r["value"][1]) for r in cls.query("up")) == 4)
        # Two waves, so that the counters move while Prometheus watches them.
        cls.sent = 0
        for wave in range(2):
            lines = []
            for i in range(4):
                lines.append(json.dumps({"id": f"ok-{wave}-{i}", "route": {"prev": [], "curr": "a", "next": []},
                                         "payload": {"n": i}}))
            for i in range(2):
                lines.append(json.dumps({"id": f"bad-{wave}-{i}", "route": {"prev": [], "curr": "a", "next": []},
                                         "payload": {"bad": True}}))
            lines.append("this is not json")
            subprocess.run(["kcat", "-b", cls.brokers, "-P", "-t", "asya-t-a"], input="\n".join(lines) + "\n",
                           text=True, check=True)
            cls.sent += len(lines)
            wait_for("the wave settled", lambda: len(get_json(
                f"http://127.0.0.1:{cls.http}/api/v1/traces?verdict=complete&limit=1000")["traces"]) >= cls.sent)
            time.sleep(3)  # a few scrapes

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in cls.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
            if p.stdout:
                p.stdout.close()
        for log in cls.logs:
            log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def query(cls, expr):
        url = f"http://127.0.0.1:{cls.prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = get_json(url)
        if body["status"] != "success":
            raise AssertionError(f"{expr}: {body}")
        return body["data"]["result"]

    def panels(self, name):
        with open(os.path.join(ROOT, "dashboards", name)) as f:
            d = json.load(f)
        out = {}
        for p in d["panels"]:
            out[p["title"]] = [t["expr"].replace("$__rate_interval", "1m").replace("$namespace", ".*")
                               .replace("$actor", ".*") for t in p["targets"]]
        return out

    def series(self, title, dashboard="asya-actors.json", index=0):
        return self.query(self.panels(dashboard)[title][index])

    def test_every_panel_evaluates(self):
        for name in ("asya-actors.json", "meshtrace-pipeline.json"):
            for title, exprs in self.panels(name).items():
                for e in exprs:
                    with self.subTest(dashboard=name, panel=title):
                        self.query(e)

    def test_failures_by_reason_show_the_reasons_of_the_mix(self):
        got = {(s["metric"]["queue"], s["metric"]["reason"]): float(s["value"][1])
               for s in self.series("Failures by reason")}
        self.assertGreater(got.get(("a", "runtime_error"), 0), 0, got)
        self.assertGreater(got.get(("a", "parse_error"), 0), 0, got)
        self.assertEqual({k for k in got if k[0] == "a"}, {("a", "runtime_error"), ("a", "parse_error")})

    def test_runtime_errors_throughput_and_sent_types(self):
        errors = {(s["metric"]["queue"], s["metric"]["error_type"]) for s in self.series("Runtime errors by type")}
        self.assertIn(("a", "execution_error"), errors)
        throughput = {s["metric"]["queue"]: float(s["value"][1]) for s in self.series("Throughput (received/s)")}
        self.assertGreater(throughput["a"], 0)
        sent = {s["metric"]["message_type"] for s in self.series("Sent by message type")}
        self.assertEqual(sent, {"sink", "sump"})
        success = {s["metric"]["queue"]: float(s["value"][1]) for s in self.series("Success rate")}
        self.assertTrue(0 < success["a"] < 1, success)

    def test_pipeline_panels_agree_with_the_collector(self):
        settled = {(s["metric"]["verdict"], s["metric"]["outcome"])
                   for s in self.series("Traces settled by verdict and outcome", "meshtrace-pipeline.json")}
        self.assertIn(("complete", "failed"), settled)
        self.assertIn(("complete", "succeeded"), settled)
        open_traces = self.series("Open traces", "meshtrace-pipeline.json")
        self.assertEqual(float(open_traces[0]["value"][1]), 0)
        emitted = {s["metric"]["pod"] for s in self.series("Sidecar events emitted/s", "meshtrace-pipeline.json")}
        self.assertEqual(emitted, {"a-0", "x-sink-0", "x-sump-0"})
        # The collector's count of failed traces equals the sidecar's failures by reason.
        failed_traces = len(get_json(f"http://127.0.0.1:{self.http}/api/v1/traces?outcome=failed&limit=1000")["traces"])
        failures = sum(float(s["value"][1]) for s in self.query(
            'sum by (reason) (asya_actor_messages_failed_total{queue="a"})'))
        self.assertEqual(failed_traces, failures)
        self.assertEqual(failed_traces, 6)


if __name__ == "__main__":
    unittest.main(verbosity=2)
