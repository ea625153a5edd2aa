"""A small Asya-style runtime for meshtrace-tap's tests: HTTP/1.0 over the Unix socket in
$ASYA_SOCKET_DIR, a runtime-ready file once bound, SSE frames with pauses between them.

TEST_RUNTIME_START_DELAY  seconds to wait before binding (a slow handler import)
TEST_RUNTIME_MODE         json (one frame), stream (three SSE frames, 0.3 s apart) or chunked
                          (HTTP/1.1, keep-alive, the frames body chunked)
TEST_RUNTIME_EXIT_AFTER   exit with status 3 after this many /invoke calls
"""
import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SOCKET_DIR = os.environ["ASYA_SOCKET_DIR"]
SOCKET = os.path.join(SOCKET_DIR, "asya-runtime.sock")
READY = os.path.join(SOCKET_DIR, "runtime-ready")
calls = 0


def cleanup(*_):
    for path in (SOCKET, READY):
        if os.path.exists(path):
            os.unlink(path)
    sys.exit(0)


class UnixServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self):
        self.socket.bind(self.server_address)

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"status": "ready"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global calls
        envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        route = envelope["route"]
        nxt = {"prev": route["prev"] + [route["curr"]],
               "curr": route["next"][0] if route["next"] else "", "next": route["next"][1:]}
        mode = os.environ.get("TEST_RUNTIME_MODE")
        if mode == "chunked":
            body = json.dumps({"frames": [{"payload": envelope["payload"], "route": nxt}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (body[:10], body[10:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif mode == "stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i in range(3):
                frame = {"payload": {"i": i}, "route": nxt}
                self.wfile.write(("event: downstream\ndata: %s\n\n" % json.dumps(frame)).encode())
                self.wfile.flush()
                time.sleep(0.3)
            self.wfile.write(b"event: done\ndata: {}\n\n")
        else:
            body = json.dumps({"frames": [{"payload": envelope["payload"], "route": nxt}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        calls += 1
        if calls == int(os.environ.get("TEST_RUNTIME_EXIT_AFTER", "0")):
            self.wfile.flush()
            os._exit(3)


if os.environ.get("TEST_RUNTIME_MODE") == "chunked":
    Handler.protocol_version = "HTTP/1.1"
signal.signal(signal.SIGTERM, cleanup)
time.sleep(float(os.environ.get("TEST_RUNTIME_START_DELAY", "0")))
if os.path.exists(SOCKET):
    os.unlink(SOCKET)
server = UnixServer(SOCKET, Handler)
os.chmod(SOCKET, 0o666)
with open(READY, "w") as f:
    f.write("ready")
server.serve_forever()
