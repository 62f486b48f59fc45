"""A small HTTP server for the tests of Patchwork's libcurl transfers (PatchworkHTTPTests).

  GET  /bytes/N             -> N bytes (b"0123456789" repeated)
  GET  /status/N            -> status N with the body "explanation of N"
  GET  /redirect?to=URL     -> 302 to URL
  GET  /headers             -> the request's headers as JSON
  GET  /stall               -> the headers and 10 bytes, then nothing for 30 s
  GET  /events/N            -> a chunked text/event-stream of N events `data: {"n": i}`, 20 ms apart,
                               each written in two pieces split inside its line
  POST /echo                -> the request body

Binds 127.0.0.1 on a free port and prints `READY <port>`.
"""
import json
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "bytes":
            n = int(parts[1])
            self.send(200, (b"0123456789" * (n // 10 + 1))[:n])
        elif parts[0] == "status":
            self.send(int(parts[1]), f"explanation of {parts[1]}".encode())
        elif parts[0] == "redirect":
            target = urllib.parse.parse_qs(url.query)["to"][0]
            self.send(302, b"", [("Location", target)])
        elif parts[0] == "headers":
            self.send(200, json.dumps({k.lower(): v for k, v in self.headers.items()}).encode())
        elif parts[0] == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            time.sleep(30)
        elif parts[0] == "events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(int(parts[1])):
                    event = f'data: {{"n": {i}}}\r\n\r\n'.encode()
                    for piece in (event[:7], event[7:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    time.sleep(0.02)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send(404, b"no such path")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.send(200, self.rfile.read(length))


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"READY {server.server_address[1]}", flush=True)
server.serve_forever()
