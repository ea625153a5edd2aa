#!/usr/bin/python3
"""The README's pasted output, from a real demo run.

  docs.py --write   runs `meshtrace demo`, then the CLI against it, and rewrites the README
                    blocks marked <!-- generated: NAME --> and docs/report.png (headless Chromium)
  docs.py --check   does the same run and fails when the README's blocks differ from what the
                    commands print now, ids, times, durations and ports aside

Usage: docs.py (--write|--check) [BIN_DIR]   (BIN_DIR defaults to build/bin)
"""
import difflib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
README = os.path.join(ROOT, "README.md")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(bin_dir):
    """Starts the demo with --keep-running; returns (process, its output, env for the CLI, dir)."""
    workdir = tempfile.mkdtemp(prefix="mt-docs-")
    demo_dir = os.path.join(workdir, "meshtrace-demo")
    grpc, http = free_port(), free_port()
    p = subprocess.Popen([f"{bin_dir}/meshtrace", "demo", "--keep-running", "--dir", demo_dir,
                          "--grpc-port", str(grpc), "--http-port", str(http)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if "the mesh keeps running" in line:
            break
    else:
        raise SystemExit("docs.py: the demo ended early:\n" + "".join(lines))
    output = "".join(lines).replace(demo_dir, "meshtrace-demo")
    output = re.sub(r"files in \S+", "files in /home/you/meshtrace/meshtrace-demo", output)
    output = output.replace(f"127.0.0.1:{grpc}", "127.0.0.1:7700").replace(f"127.0.0.1:{http}", "127.0.0.1:7701")
    output = output.replace("the mesh keeps running; Ctrl-C stops it\n",
                            "(the mesh stops now; run `meshtrace demo --keep-running` to explore it and replay)\n")
    env = {**os.environ, "MESHTRACE_COLLECTOR": f"127.0.0.1:{grpc}", "NO_COLOR": "1"}
    return p, output, env, demo_dir, workdir, http


def cli(bin_dir, env, *args):
    r = subprocess.run([f"{bin_dir}/meshtrace", *args], env=env, capture_output=True, text=True)
    return r.stdout + r.stderr


def generate(bin_dir):
    demo, demo_output, env, demo_dir, workdir, http = run_demo(bin_dir)
    try:
        failed = json.loads(cli(bin_dir, env, "traces", "--outcome", "failed", "--limit", "1", "-o", "json"))
        trace = failed["traces"][0]["trace_id"]
        socket_path = f"{demo_dir}/sockets/setup-payment/asya-runtime.sock"
        blocks = {
            "story": "$ meshtrace traces --outcome failed --limit 3\n"
                     + cli(bin_dir, env, "traces", "--outcome", "failed", "--limit", "3")
                     + f"\n$ meshtrace show {trace}\n" + cli(bin_dir, env, "show", trace),
            "replay": f"$ meshtrace replay {trace} --socket meshtrace-demo/sockets/setup-payment/asya-runtime.sock\n"
                      + cli(bin_dir, env, "replay", trace, "--socket", socket_path),
            "demo": demo_output,
        }
        report = os.path.join(workdir, "report.html")
        cli(bin_dir, env, "report", trace, "-o", report)
        return blocks, report, workdir
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)


BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n```text\n)(.*?)(```\n)", re.S)


def normalize(text):
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", text)
    text = re.sub(r"\d+(\.\d+)?\s?(ms|µs|s)\b", "<dur>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"^[ \t]*\d+ of \d+ settled\n", "", text, flags=re.M)  # progress lines come and go
    return re.sub(r"[ \t]+", " ", text)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("--write", "--check"):
        raise SystemExit(__doc__)
    bin_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build/bin")
    blocks, report, workdir = generate(bin_dir)
    try:
        with open(README) as f:
            readme = f.read()
        found = {m.group(2): m.group(3) for m in BLOCK.finditer(readme)}
        missing = set(blocks) - set(found)
        if missing:
            raise SystemExit(f"docs.py: README lacks the blocks {sorted(missing)}")
        if sys.argv[1] == "--check":
            bad = False
            for name, text in blocks.items():
                want, have = normalize(text), normalize(found[name])
                if want != have:
                    bad = True
                    print(f"README block '{name}' differs from what the commands print now:")
                    print("".join(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                                       "README", "now")))
            if bad:
                raise SystemExit("run `make docs` to refresh the README")
            print("README output matches the commands")
            return
        readme = BLOCK.sub(lambda m: m.group(1) + blocks.get(m.group(2), m.group(3)) + m.group(4), readme)
        with open(README, "w") as f:
            f.write(readme)
        profile = tempfile.mkdtemp(prefix="mt-chromium-")
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        "--window-size=1200,1300", f"--screenshot={ROOT}/docs/report.png",
                        f"file://{report}"], capture_output=True, check=True)
        shutil.rmtree(profile, ignore_errors=True)
        print("wrote README.md blocks", sorted(blocks), "and docs/report.png")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
