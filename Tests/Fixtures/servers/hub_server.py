"""A small server speaking the Hugging Face Hub's download protocol, for the tests (the public
Hub cannot be reached from the test machines).

It implements what a client of the Hub uses to fetch a model repository:
  GET /api/models/{repo}/revision/{revision}[?blobs=true]  -> {"id", "sha", "siblings": [{"rfilename", "size"}]}
  GET /{repo}/resolve/{revision}/{file}                     -> 302 to a CDN-like URL, as the Hub does
                                                               for large files, with X-Repo-Commit
and answers like the Hub on errors: 401 with X-Error-Code RepoNotFound for a private repo without
a valid token, 403 GatedRepo for a gated one, 404 RepoNotFound / RevisionNotFound / EntryNotFound,
and 503 for the first `fail_first` revision requests of a repository (a flaky server).

Test-only control endpoints:
  GET  /_stats                                    -> request counts per kind
  POST /_move?repo=R&revision=B&commit=C          -> move a branch to another commit

The repositories come from a JSON file:
  {"org/name": {"token": null | "secret", "gated": false, "bytes_per_second": null | N, "fail_first": 0,
                "revisions": {"main": "<commit>", "v1": "<commit>"},
                "commits": {"<commit>": "/dir/with/files"}}}

    hub_server.py --port PORT --repos repos.json
"""
import argparse
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"revision": 0, "resolve": 0, "cdn": 0}


class Hub(BaseHTTPRequestHandler):
    repos = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("hub: " + fmt % args, flush=True)

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, json.dumps({"error": message}).encode(), {"X-Error-Code": code, "X-Error-Message": message})

    def authorized(self, repo):
        spec = self.repos[repo]
        if spec.get("token") is None and not spec.get("gated"):
            return True
        sent = self.headers.get("Authorization", "")
        if spec.get("gated") and sent != f"Bearer {spec.get('token')}":
            self.error(403, "GatedRepo", f"Access to model {repo} is restricted; you must have access to it and be authenticated")
            return False
        if sent != f"Bearer {spec['token']}":
            # The Hub does not reveal that a private repository exists.
            self.error(401, "RepoNotFound", "Repository Not Found")
            return False
        return True

    def find_repo(self, parts):
        for length in (2, 1):
            candidate = "/".join(parts[:length])
            if candidate in self.repos:
                return candidate, parts[length:]
        return None, parts

    def commit_of(self, repo, revision):
        spec = self.repos[repo]
        if revision in spec["commits"]:
            return revision
        return spec["revisions"].get(revision)

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/_move":
            query = dict(urllib.parse.parse_qsl(url.query))
            with LOCK:
                self.repos[query["repo"]]["revisions"][query["revision"]] = query["commit"]
            return self.reply(200, b"{}")
        self.error(404, "NotFound", "no such endpoint")

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if url.path == "/_stats":
            with LOCK:
                return self.reply(200, json.dumps(STATS).encode())
        if parts[:2] == ["api", "models"]:
            repo, rest = self.find_repo(parts[2:])
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository Not Found")
            with LOCK:
                STATS["revision"] += 1
                failing = self.repos[repo].get("fail_first", 0)
                if failing:
                    self.repos[repo]["fail_first"] = failing - 1
            if failing:
                return self.error(503, "ServiceUnavailable", "try again later")
            if not self.authorized(repo):
                return
            if len(rest) < 2 or rest[0] != "revision":
                return self.error(404, "NotFound", "no such endpoint")
            commit = self.commit_of(repo, "/".join(rest[1:]))
            if commit is None:
                return self.error(404, "RevisionNotFound", f"Invalid rev id: {'/'.join(rest[1:])}")
            directory = self.repos[repo]["commits"][commit]
            siblings = []
            for root, _, files in os.walk(directory):
                for name in files:
                    path = os.path.join(root, name)
                    siblings.append({"rfilename": os.path.relpath(path, directory), "size": os.path.getsize(path)})
            siblings.sort(key=lambda s: s["rfilename"])
            return self.reply(200, json.dumps({"id": repo, "sha": commit, "siblings": siblings}).encode())
        if parts[0] == "cdn" and len(parts) >= 4:
            repo = urllib.parse.unquote(parts[1])
            commit, name = parts[2], "/".join(parts[3:])
            with LOCK:
                STATS["cdn"] += 1
            return self.send_file(repo, os.path.join(self.repos[repo]["commits"][commit], name))
        repo, rest = self.find_repo(parts)
        if repo is None or len(rest) < 3 or rest[0] != "resolve":
            return self.error(404, "RepoNotFound", "Repository Not Found")
        with LOCK:
            STATS["resolve"] += 1
        if not self.authorized(repo):
            return
        commit = self.commit_of(repo, rest[1])
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rest[1]}")
        name = "/".join(rest[2:])
        if not os.path.isfile(os.path.join(self.repos[repo]["commits"][commit], name)):
            return self.error(404, "EntryNotFound", f"{name} does not exist on {commit}")
        location = f"/cdn/{urllib.parse.quote(repo, safe='')}/{commit}/{urllib.parse.quote(name)}?expires=1"
        self.reply(302, b"", {"Location": location, "X-Repo-Commit": commit})

    def send_file(self, repo, path):
        with open(path, "rb") as f:
            data = f.read()
        rate = self.repos[repo].get("bytes_per_second")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not rate:
            self.wfile.write(data)
            return
        chunk = max(1, rate // 20)
        for start in range(0, len(data), chunk):
            self.wfile.write(data[start:start + chunk])
            self.wfile.flush()
            time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--repos", required=True)
    args = parser.parse_args()
    with open(args.repos) as f:
        Hub.repos = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Hub)
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
