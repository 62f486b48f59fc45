"""A small Kubernetes API server for the tests: the PatchworkAdapter custom resources of the
namespaces it holds, as the real API serves them to a controller:

  GET   /apis/patchwork.dev/v1alpha1/namespaces/{ns}/patchworkadapters          -> {"kind": "PatchworkAdapterList", "items": [...]}
  PATCH /apis/patchwork.dev/v1alpha1/namespaces/{ns}/patchworkadapters/{name}/status
        (application/merge-patch+json) -> the object

Both need `Authorization: Bearer <token>` (401 otherwise, as the API does). What a user does
with kubectl is done through test-only endpoints:

  PUT    /_objects/{ns}/{name}   body: {"spec": {...}}   create or replace (generation grows)
  DELETE /_objects/{ns}/{name}
  GET    /_objects/{ns}/{name}   -> the object with its status

    kube_server.py --port PORT --token TOKEN
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
OBJECTS = {}  # (namespace, name) -> object
PREFIX = "/apis/patchwork.dev/v1alpha1/namespaces/"


class API(BaseHTTPRequestHandler):
    token = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("kube: " + fmt % args, flush=True)

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def authorized(self):
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.reply(401, {"kind": "Status", "status": "Failure", "message": "Unauthorized", "code": 401})
            return False
        return True

    def api_parts(self):
        if not self.path.startswith(PREFIX):
            return None
        return self.path[len(PREFIX):].split("?")[0].strip("/").split("/")

    def do_GET(self):
        if self.path.startswith("/_objects/"):
            _, _, namespace, name = self.path.split("/", 3)
            with LOCK:
                obj = OBJECTS.get((namespace, name))
            return self.reply(200 if obj else 404, obj or {"message": "not found"})
        parts = self.api_parts()
        if not parts or len(parts) != 2 or parts[1] != "patchworkadapters":
            return self.reply(404, {"message": "not found"})
        if not self.authorized():
            return
        with LOCK:
            items = [o for (ns, _), o in sorted(OBJECTS.items()) if ns == parts[0]]
        self.reply(200, {"apiVersion": "patchwork.dev/v1alpha1", "kind": "PatchworkAdapterList", "metadata": {}, "items": items})

    def do_PATCH(self):
        parts = self.api_parts()
        if not parts or len(parts) != 4 or parts[1] != "patchworkadapters" or parts[3] != "status":
            return self.reply(404, {"message": "not found"})
        if not self.authorized():
            return
        if self.headers.get("Content-Type") != "application/merge-patch+json":
            return self.reply(415, {"message": "unsupported media type"})
        patch = self.body()
        with LOCK:
            obj = OBJECTS.get((parts[0], parts[2]))
            if obj is None:
                return self.reply(404, {"message": "not found"})
            obj["status"] = {**obj.get("status", {}), **patch.get("status", {})}
            self.reply(200, obj)

    def do_PUT(self):
        _, _, namespace, name = self.path.split("/", 3)
        spec = self.body()["spec"]
        with LOCK:
            old = OBJECTS.get((namespace, name))
            generation = old["metadata"]["generation"] + 1 if old else 1
            OBJECTS[(namespace, name)] = {
                "apiVersion": "patchwork.dev/v1alpha1", "kind": "PatchworkAdapter",
                "metadata": {"name": name, "namespace": namespace, "generation": generation},
                "spec": spec, "status": old.get("status", {}) if old else {},
            }
        self.reply(200, OBJECTS[(namespace, name)])

    def do_DELETE(self):
        _, _, namespace, name = self.path.split("/", 3)
        with LOCK:
            OBJECTS.pop((namespace, name), None)
        self.reply(200, {})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    API.token = args.token
    server = ThreadingHTTPServer(("127.0.0.1", args.port), API)
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
