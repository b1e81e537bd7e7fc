#!/usr/bin/env python3
"""Network Rail's CIF download, on loopback, for the feeder's test.

    test/stomp/cif_server.py --port PORT --user USER --password PASSWORD \
        --file EXTRACT.ndjson --log FILE

Like Network Rail's /ntrod/CifFileAuthenticate: a GET with the right HTTP
basic credentials is redirected (302) to a second URL that serves the
extract gzipped (application/octet-stream, as a .gz file, no
Content-Encoding), as Network Rail redirects to a signed storage URL.
Wrong or missing credentials get 401 with a WWW-Authenticate challenge.
Each request is logged as one JSON line (path, whether an Authorization
header came, status, Unix time), before it is answered, so the lines are in the
order of the requests.  Port 0 picks a free port; the chosen one is written
on the first line of the log file's sibling FILE.port.
"""
import argparse
import base64
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()

    with open(args.file, "rb") as f:
        body = gzip.compress(f.read())
    want = "Basic " + base64.b64encode(
        f"{args.user}:{args.password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def answer(self, status, headers, payload=b""):
            # logged before answering: the redirect's line must precede
            # that of the request following it (a thread per request)
            with lock, open(args.log, "a") as log:
                log.write(json.dumps({
                    "path": self.path,
                    "authorization": "Authorization" in self.headers,
                    "status": status,
                    "time": time.time()}) + "\n")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            if self.path.startswith("/ntrod/CifFileAuthenticate"):
                if self.headers.get("Authorization") != want:
                    self.answer(401, {"WWW-Authenticate": 'Basic realm="ntrod"'},
                                b"Unauthorized")
                else:
                    self.answer(302, {"Location": "/signed/extract.gz?sig=x"})
            elif self.path.startswith("/signed/extract.gz"):
                self.answer(200, {"Content-Type": "application/octet-stream"},
                            body)
            else:
                self.answer(404, {}, b"not found")

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(args.log + ".port", "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
