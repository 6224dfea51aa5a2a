#!/usr/bin/env python3
"""A tiny stand-in for huggingface.co, for tests/cli/test_pull.sh.

Serves the files of --root (looked up by the last component of FILE) under
    /REPO/resolve/main/FILE
    /_mode/MODES/REPO/resolve/main/FILE      (MODES: comma-separated, below)
so a test picks a behaviour through SLM_HF_ENDPOINT=http://127.0.0.1:PORT/_mode/MODES.
Binds 127.0.0.1 on a free port, writes the port to --port-file, logs one line
per request to --log ("GET PATH range=... auth=... status=...").

Modes:
  redirect  answer 302 to /_cdn/... with the hash header on the 302 (as HF does
            for LFS files); the CDN answer carries an S3-style md5 ETag
  etag      put the sha256 in ETag instead of X-Linked-Etag
  nohash    send no sha256 at all
  badsum    send a wrong sha256
  truncate  announce the full Content-Length, send half of it, close
  stall     send 512 bytes, then wait (tests the low-speed timeout)
  norange   ignore Range requests (always 200 with the whole file)
  auth      401 without "Authorization: Bearer test-token", 403 with another token
"""
import argparse
import hashlib
import http.server
import os
import re
import sys
import threading
import time

TOKEN = "test-token"
log_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."
    log_path = None

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def record(self, status):
        line = "%s %s range=%s auth=%s status=%d\n" % (
            self.command, self.path, self.headers.get("Range", "-"),
            self.headers.get("Authorization", "-"), status)
        with log_lock, open(self.log_path, "a") as f:
            f.write(line)

    def reply_empty(self, status, extra=None):
        self.record(status)
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        modes = set()
        m = re.match(r"^/_mode/([^/]+)(/.*)$", path)
        if m:
            modes, path = set(m.group(1).split(",")), m.group(2)
        cdn = re.match(r"^/_cdn/([^/]+)/([^/]+)$", path)
        if cdn:  # the redirect target: modes travel in the path
            modes, name = set(cdn.group(1).split(",")) - {"redirect"}, cdn.group(2)
            return self.serve(name, modes, on_cdn=True)
        m = re.match(r"^/(.+)/resolve/main/(.+)$", path)
        if not m:
            return self.reply_empty(400)
        name = os.path.basename(m.group(2))
        if "auth" in modes:
            auth = self.headers.get("Authorization")
            if auth is None:
                return self.reply_empty(401, {"X-Error-Message": "Invalid credentials in Authorization header"})
            if auth != "Bearer " + TOKEN:
                return self.reply_empty(403, {"X-Error-Message": "Access to this repository is restricted"})
        return self.serve(name, modes, on_cdn=False)

    def hash_headers(self, data, modes):
        if "nohash" in modes:
            return {}
        digest = hashlib.sha256(b"not the file" if "badsum" in modes else data).hexdigest()
        return {"ETag" if "etag" in modes else "X-Linked-Etag": '"%s"' % digest}

    def serve(self, name, modes, on_cdn):
        file_path = os.path.join(self.root, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(file_path):
            return self.reply_empty(404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"})
        with open(file_path, "rb") as f:
            data = f.read()
        if "redirect" in modes and not on_cdn:
            headers = self.hash_headers(data, modes)
            headers["Location"] = "/_cdn/%s/%s" % (",".join(sorted(modes)) or "plain", name)
            return self.reply_empty(302, headers)
        headers = {} if on_cdn else self.hash_headers(data, modes)
        if on_cdn:
            headers["ETag"] = '"%s"' % hashlib.md5(data).hexdigest()
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and "norange" not in modes:
            m = re.match(r"^bytes=(\d+)-(\d*)$", rng)
            if m:
                start = int(m.group(1))
                if start >= len(data):
                    headers["Content-Range"] = "bytes */%d" % len(data)
                    return self.reply_empty(416, headers)
                status = 206
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        self.record(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if "truncate" in modes:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if "stall" in modes:  # a trickle well under 1 KB/s, then silence
            self.wfile.write(body[:512])
            self.wfile.flush()
            time.sleep(60)
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    Handler.root, Handler.log_path = args.root, args.log
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)  # the test waits for the complete file
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
