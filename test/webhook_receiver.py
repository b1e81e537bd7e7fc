#!/usr/bin/env python3
"""A webhook receiver on loopback, for rail_stream's tests, benchmark and demo.

    test/webhook_receiver.py --port PORT --log FILE [--mode-file FILE]

Answers every POST (and GET, as a schema registry would be asked)
according to the first line of the mode file, read afresh for each request
(no file, or an empty one: "ok"):

    ok                 200 {"ok":true}
    status:CODE        CODE with a short JSON error
    slow:SECONDS       waits, then 200 (to outlast the sender's timeout)
    retry-after:SECS   429 with Retry-After: SECS

and appends one JSON line per request to the log once it has answered
(slow: when the request arrives): arrival time (Unix seconds), path,
headers, body, mode, and the status it answered (-1: none, or too late).  To refuse
connections, stop the process; start it again on the same port.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log_lock = threading.Lock()


def read_mode(path):
    try:
        with open(path) as f:
            return (f.readline().strip() or "ok")
    except (OSError, TypeError):
        return "ok"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as a real endpoint

    def do_POST(self):
        arrived = time.time()
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode("utf-8", "replace")
        mode = read_mode(self.server.mode_file)
        status, extra = 200, {}
        if mode.startswith("status:"):
            status = int(mode.split(":", 1)[1])
        elif mode.startswith("retry-after:"):
            status, extra = 429, {"Retry-After": mode.split(":", 1)[1]}
        elif mode.startswith("slow:"):
            # logged on arrival: the client will not wait for the answer
            self.log_request_as(arrived, body, mode, -1)
            time.sleep(float(mode.split(":", 1)[1]))
        answer = json.dumps({"ok": status == 200} if status == 200 else
                            {"ok": False, "error_code": status,
                             # as many servers do, it echoes the path
                             "description": "receiver mode %s for %s" % (mode, self.path)}).encode()
        try:
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.wfile.flush()
        except OSError:
            status = -1     # the client has gone (timed out)
        if not mode.startswith("slow:"):
            self.log_request_as(arrived, body, mode, status)

    do_GET = do_POST

    def log_request_as(self, arrived, body, mode, status):
        entry = {"t": arrived, "path": self.path, "status": status,
                 "mode": mode, "body": body,
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        with log_lock:
            with open(self.server.log_file, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024   # the sender opens many connections at once


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode-file")
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.log_file = args.log
    server.mode_file = args.mode_file
    server.serve_forever()


if __name__ == "__main__":
    main()
