"""Start ``copier run`` as its own process for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import eventually_sync

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningDaemon:
    process: subprocess.Popen[str]
    webhook: str
    api: str
    key: str
    mirror: Path
    data: Path
    stdout: Path
    stderr: Path

    def post(self, path: str, body: bytes | dict[str, Any], *, base: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request((base or self.webhook) + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        return _call(request)

    def api_get(self, path: str, key: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.api + path, headers={"Authorization": f"Bearer {key or self.key}"})
        return _call(request)

    def api_post(self, path: str, body: dict[str, Any], key: str | None = None) -> tuple[int, Any]:
        return self.post(path, body, base=self.api, headers={"Authorization": f"Bearer {key or self.key}"})

    def events(self) -> list[dict[str, Any]]:
        if not self.mirror.exists():
            return []
        return [json.loads(line) for line in self.mirror.read_text().splitlines() if line.strip()]


def _call(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def write_config(folder: Path, body: str, *, webhook: int, api: int) -> Path:
    text = f'data_dir = "{folder}/data"\n[server]\nwebhook = "127.0.0.1:{webhook}"\napi = "127.0.0.1:{api}"\n' + body
    path = folder / "copier.toml"
    path.write_text(text)
    return path


@contextmanager
def running_daemon(folder: Path, body: str, env: dict[str, str] | None = None):
    """Start the daemon with ``body`` appended to a generated [server] section; stop it with SIGTERM."""
    webhook, api = free_port(), free_port()
    config = write_config(folder, body, webhook=webhook, api=api)
    key = "test-admin-key-" + os.urandom(6).hex()
    environment = {**os.environ, "COPIER_API_KEY": key, **(env or {})}
    out, err = folder / "daemon.out", folder / "daemon.err"
    with open(out, "w") as out_file, open(err, "w") as err_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "copier.cli", "run", "--config", str(config)],
            cwd=ROOT, env=environment, stdout=out_file, stderr=err_file, text=True,
        )
    daemon = RunningDaemon(process, f"http://127.0.0.1:{webhook}", f"http://127.0.0.1:{api}", key,
                           folder / "data" / "mirror.jsonl", folder / "data", out, err)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"daemon exited: {err.read_text()}")
        try:
            return daemon.api_get("/api/v1/health")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        eventually_sync(up, timeout=20)
        yield daemon
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
