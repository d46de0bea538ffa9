#!/usr/bin/env python3
"""A webhook receiver for the TAP tests, on 127.0.0.1 (standard library only).

    webhook_receiver.py LOG SECRET

Prints its port on the first line of stdout, then serves until killed. Each
request is appended to LOG as one JSON line: path, headers, body, whether the
Standard Webhooks signature verifies with SECRET (computed here, independently
of pgque_worker), the attempt number of its webhook-id, the status returned.

Paths: /ok answers 204; /fail_first answers 500 to the first attempt of each
webhook-id and 200 after; /fail_always answers 500 "boom"; /slow waits 3 s.
"""
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG, SECRET = sys.argv[1], sys.argv[2]
KEY = base64.b64decode(SECRET[len("whsec_"):])
attempts = {}
lock = threading.Lock()


def signature_valid(headers, body):
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return False
    expected = base64.b64encode(hmac.new(KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(s.split(",", 1) == ["v1", expected] for s in sigs.split(" "))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        wid = self.headers.get("webhook-id", "")
        with lock:
            attempts[wid] = attempts.get(wid, 0) + 1
            attempt = attempts[wid]
        status, reply = 204, b""
        if self.path == "/fail_first" and attempt == 1:
            status, reply = 500, b"first attempt refused"
        elif self.path == "/fail_always":
            status, reply = 500, b"boom"
        elif self.path == "/slow":
            time.sleep(3)
            status = 200
        record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "body": json.loads(body), "signature_valid": signature_valid(self.headers, body),
                  "attempt": attempt, "status": status, "received_at": time.time()}
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
