#!/usr/bin/env python3
"""A webhook receiver for the TAP tests, on 127.0.0.1 (standard library only).

    webhook_receiver.py LOG SECRET

Prints its port on the first line of stdout, then serves until killed. Each
request is appended to LOG as one JSON line: path, headers, body, whether the
Standard Webhooks signature verifies with SECRET (computed here, independently
of pgque_worker), the attempt number of its webhook-id, the status returned.

Paths: /ok answers 204; /fail_first answers 500 to the first attempt of each
webhook-id and 200 after; /fail_always answers 500 "boom"; /slow waits 3 s;
/gone answers 410; /retry_after answers 429 with "Retry-After: 2" to the
first attempt and 204 after; /latin1 answers 500 with Latin-1 bytes;
/euro answers 500 with "EURO boom EURO" in UTF-8 (no EUC_JP or Latin-1
equivalent); /cut answers 500 with 199 "x" and an e-acute (a UTF-8 character across byte
200). The log keeps the raw body (as Latin-1, so every byte survives) and
the parsed one (null when it does not parse, e.g. too deep for Python).
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
        status, reply, extra = 204, b"", {}
        if self.path == "/fail_first" and attempt == 1:
            status, reply = 500, b"first attempt refused"
        elif self.path == "/fail_always":
            status, reply = 500, b"boom"
        elif self.path == "/slow":
            time.sleep(3)
            status = 200
        elif self.path == "/gone":
            status, reply = 410, b"gone"
        elif self.path == "/moved":
            status, reply, extra = 301, b"moved", {"Location": "/ok"}
        elif self.path == "/retry_after" and attempt == 1:
            status, reply, extra = 429, b"slow down", {"Retry-After": "2"}
        elif self.path == "/latin1":
            status, reply = 500, "caf\u00e9 cr\u00e8me".encode("latin-1")
        elif self.path == "/euro":
            status, reply = 500, "\u20ac boom \u20ac".encode("utf-8")
        elif self.path == "/cut":
            status, reply = 500, b"x" * 199 + "\u00e9".encode("utf-8")
        try:
            parsed = json.loads(body)
            json.dumps(parsed, allow_nan=False)  # 1e400 parses as inf, which JSON cannot hold
        except (ValueError, RecursionError):
            parsed = None
        record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "body": parsed, "raw": body.decode("latin-1"), "length": len(body),
                  "signature_valid": signature_valid(self.headers, body),
                  "attempt": attempt, "status": status, "received_at": time.time()}
        if len(body) > 100000:
            record["raw"] = record["body"] = None  # big bodies: their length is enough
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
