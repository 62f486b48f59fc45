"""The processes the benchmarks run: a Patchwork cluster (router, worker, frontend; release
builds on loopback) and a real vLLM server, each started on free ports and stopped at the end.

    with Cluster(bin_dir, model, served_name="smollm2", worker_args=["--enable-lora"]) as cluster:
        post(cluster.frontend, "/v1/completions", {...})
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, path="/health", seconds=30, process=None, log=None):
    """Waits until `GET path` answers 200; raises with the process's log when it does not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read()
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    tail = open(log, errors="replace").read()[-4000:] if log else ""
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer within {seconds} s (exit status "
                       f"{process.poll() if process else None})\n{tail}")


def post(port, path, body, timeout=300):
    """POSTs `body` as JSON; returns the response's bytes (raises on a status >= 400)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


class Processes:
    """Started processes whose output goes to log files in one directory, stopped together."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="patchwork-bench-")
        self.processes = []

    def start(self, name, command, env=None):
        log = os.path.join(self.directory, f"{name}.log")
        process = subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
        self.processes.append(process)
        return process, log

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


class Cluster:
    """Router, one worker and frontend; `frontend` and `worker_http` are their HTTP ports."""

    def __init__(self, bin_dir, model, served_name, threads=2, worker_args=()):
        self.served_name = served_name
        self.processes = Processes()
        router, events, router_http = free_port(), free_port(), free_port()
        self.worker_http, self.worker_zmq, self.frontend = free_port(), free_port(), free_port()
        started = [
            (router_http, *self.processes.start("router", [
                f"{bin_dir}/patchwork-router", "--listen", f"tcp://127.0.0.1:{router}", "--events-listen",
                f"tcp://127.0.0.1:{events}", "--system-host", "127.0.0.1", "--system-port", str(router_http)])),
            (self.worker_http, *self.processes.start("worker", [
                f"{bin_dir}/patchwork-worker", "--router", f"tcp://127.0.0.1:{router}", "--model", model,
                "--served-model-name", served_name, "--system-host", "127.0.0.1", "--system-port", str(self.worker_http),
                "--listen", f"tcp://127.0.0.1:{self.worker_zmq}", "--threads", str(threads), *worker_args])),
            (self.frontend, *self.processes.start("frontend", [
                f"{bin_dir}/patchwork-frontend", "--router", f"tcp://127.0.0.1:{router}", "--http-host", "127.0.0.1",
                "--http-port", str(self.frontend)])),
        ]
        try:
            for port, process, log in started:
                wait_http(port, process=process, log=log)
            self.wait_models({served_name})
        except BaseException:
            self.processes.stop()
            raise

    def wait_models(self, names, seconds=30):
        """Waits until the frontend's /v1/models lists every name in `names`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            listed = {m["id"] for m in json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.frontend}/v1/models"))["data"]}
            if names <= listed:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the frontend did not list {sorted(names)} within {seconds} s")

    def load_adapter(self, name, directory):
        post(self.worker_http, "/v1/loras", {"lora_name": name, "source": {"uri": "file://" + directory}})

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.processes.stop()


class VLLMServer:
    """`vllm serve` of a Hugging Face directory on a free loopback port, on the CPU, with LoRA."""

    def __init__(self, vllm_bin, model_dir, served_name, threads=2, max_loras=8, max_lora_rank=16):
        self.served_name = served_name
        self.port = free_port()
        self.processes = Processes()
        cores = f"0-{threads - 1}" if threads > 1 else "0"
        process, log = self.processes.start("vllm", [
            vllm_bin, "serve", model_dir, "--served-model-name", served_name, "--host", "127.0.0.1",
            "--port", str(self.port), "--dtype", "bfloat16", "--max-model-len", "2048", "--enable-lora",
            "--max-lora-rank", str(max_lora_rank), "--max-loras", str(max_loras)],
            env={"VLLM_TARGET_DEVICE": "cpu", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "1",
                 "VLLM_CPU_OMP_THREADS_BIND": cores})
        try:
            # Starting takes 30-55 s on two cores (the field notes); a loaded host takes longer.
            wait_http(self.port, seconds=300, process=process, log=log)
        except BaseException:
            self.processes.stop()
            raise

    def load_adapter(self, name, directory):
        post(self.port, "/v1/load_lora_adapter", {"lora_name": name, "lora_path": directory})

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.processes.stop()
