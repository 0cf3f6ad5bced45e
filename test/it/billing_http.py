#!/usr/bin/env python3
"""A billing server for the cascron tests, on 127.0.0.1 only.

    billing_http.py DIR PORTFILE LOGFILE [CERT KEY]

Serves the files of DIR and writes the port it listens on to PORTFILE (the
kernel picks it).  With CERT and KEY it speaks HTTPS.  One line per request
goes to LOGFILE: "GET /path status If-None-Match=... If-Modified-Since=...".

Paths:
  /files/NAME        the file, with an ETag (hash of the content) and a
                     Last-Modified (its mtime); answers 304 Not Modified when
                     If-None-Match matches, or when If-Modified-Since is not
                     older than the mtime and no If-None-Match was sent
  /plain/NAME        the file without ETag or Last-Modified
  /truncated/NAME    promises 100 bytes more than it sends, then closes
  /chunked-cut/NAME  chunked encoding, closes before the last chunk
  /stall             sends nothing (the client's timeout must end it)
  /redirect/N/NAME   302 to /redirect/N-1/NAME, and /redirect/0/NAME to /files/NAME
  /to-file           302 to file:///etc/passwd
  anything else      404 Not Found
"""
import email.utils
import hashlib
import http.server
import os
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def note(self, status):
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write("%s %s %d If-None-Match=%s If-Modified-Since=%s\n" % (
                    self.command, self.path, status,
                    self.headers.get("If-None-Match", "-"),
                    self.headers.get("If-Modified-Since", "-")))

    def read_file(self, name):
        if "/" in name or name.startswith("."):
            return None, None
        path = os.path.join(self.server.dir, name)
        try:
            with open(path, "rb") as f:
                return f.read(), os.stat(path).st_mtime
        except OSError:
            return None, None

    def simple(self, status, body=b"", headers=()):
        self.note(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("/")
        if self.path == "/stall":
            self.note(0)
            time.sleep(30)
            self.close_connection = True
            return
        if self.path == "/to-file":
            return self.simple(302, b"", [("Location", "file:///etc/passwd")])
        if len(parts) == 4 and parts[1] == "redirect":
            n = int(parts[2])
            loc = "/files/%s" % parts[3] if n == 0 else "/redirect/%d/%s" % (n - 1, parts[3])
            return self.simple(302, b"", [("Location", loc)])
        if len(parts) != 3:
            return self.simple(404, b"not found\n")
        body, mtime = self.read_file(parts[2])
        if body is None:
            return self.simple(404, b"not found\n")
        kind = parts[1]
        if kind == "files":
            etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
            lm = email.utils.formatdate(mtime, usegmt=True)
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            hdrs = [("ETag", etag), ("Last-Modified", lm), ("Content-Type", "text/csv")]
            if inm is not None:
                if inm == etag:
                    return self.simple(304, b"", hdrs)
            elif ims is not None:
                try:
                    since = email.utils.parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError):
                    since = None
                if since is not None and int(mtime) <= since:
                    return self.simple(304, b"", hdrs)
            return self.simple(200, body, hdrs)
        if kind == "plain":
            return self.simple(200, body, [("Content-Type", "text/csv")])
        if kind == "truncated":
            self.note(200)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        if kind == "chunked-cut":
            self.note(200)
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
            self.wfile.flush()
            self.close_connection = True
            return
        return self.simple(404, b"not found\n")


def main():
    d, portfile, logfile = sys.argv[1:4]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.dir = d
    srv.log_path = logfile
    srv.log_lock = threading.Lock()
    if len(sys.argv) == 6:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
