#!/usr/bin/env python3
"""A webhook receiver for the fault suite's alert tests (stdlib only).

Usage: webhook_sink.py PORT_FILE OUT_DIR

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE (whole,
by rename), and stores the body of every POST as OUT_DIR/NNNN.json (also by
rename, so a reader never sees half a file), answering 200. Runs until
killed.
"""
import http.server
import os
import sys
import threading

port_file, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count += 1
            name = os.path.join(out_dir, "%04d.json" % count)
        with open(name + ".tmp", "wb") as f:
            f.write(body)
        os.rename(name + ".tmp", name)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook_sink: " + (fmt % args) + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
