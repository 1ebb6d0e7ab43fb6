"""Request latency through the kit against a direct request to the backend, same client, same run.

Kit path:    client → 127.0.0.1:ingress (docker-proxy) → Envoy ingress → frontend nginx
             → Envoy egress (:3000) → backend-blue nginx
Direct path: client → 127.0.0.1:<bench-only port> (docker-proxy) → backend-blue nginx

Both paths are timed by one minimal HTTP/1.1 client (a raw socket, one
keep-alive connection per path, TCP_NODELAY, sequential requests), in
interleaved batches (kit, direct, direct, kit, ...) after a warm-up, so that
drift in the machine's load hits both alike. The difference at p50 is what
the two Envoy hops and the frontend nginx add ("the Envoy hops"); the
docker-proxy hop and the client's own cost are in both and cancel out.
"""

from __future__ import annotations

import socket
import statistics
import time

BODY = {"blue": b"Hello from BACKEND BLUE", "green": b"Hello from BACKEND GREEN (v2.0)"}


class KeepAliveClient:
    """GET / on one persistent connection; returns (status, body). Reconnects if the server closes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bgctl-bench\r\n\r\n".encode()
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def get(self) -> tuple[int, bytes]:
        if self.sock is None:
            self._connect()
        self.sock.sendall(self.request)
        buffer = self.buffer
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers[b"content-length"])
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection mid-body")
            rest += chunk
        body, self.buffer = rest[:length], rest[length:]
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body


def measure(ctx, direct_port: int, requests: int = 3000, batch: int = 100, warmup: int = 300) -> dict:
    production = ctx.state_file.load().traffic.production
    paths = {
        "kit": (KeepAliveClient(ctx.settings.http_port), BODY[production]),
        "direct": (KeepAliveClient(direct_port), BODY["blue"]),
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    errors = {name: 0 for name in paths}

    def run(name: str, n: int, keep: bool) -> None:
        client, expected = paths[name]
        clock = time.perf_counter_ns
        for _ in range(n):
            started = clock()
            try:
                status, body = client.get()
            except (OSError, ValueError, KeyError):
                errors[name] += 1
                client.close()
                continue
            elapsed = clock() - started
            if status != 200 or body != expected:
                errors[name] += 1
            elif keep:
                samples[name].append(elapsed / 1e6)

    for name in paths:
        run(name, warmup, keep=False)
    errors = {name: 0 for name in paths}
    rounds = max(1, requests // batch)
    for r in range(rounds):
        order = ("kit", "direct") if r % 2 == 0 else ("direct", "kit")
        for name in order:
            run(name, batch, keep=True)
    for client, _ in paths.values():
        client.close()

    result = {name: summary(ms) for name, ms in samples.items()}
    for name in paths:
        result[name]["errors"] = errors[name]
    kit, direct = result["kit"], result["direct"]
    result["added_p50_ms"] = round(kit["p50_ms"] - direct["p50_ms"], 3)
    result["added_p99_ms"] = round(kit["p99_ms"] - direct["p99_ms"], 3)
    result["ratio_p50"] = round(kit["p50_ms"] / direct["p50_ms"], 2)
    result["batch"] = batch
    result["warmup"] = warmup
    result["production"] = production
    return result


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    pick = lambda q: ms[min(len(ms) - 1, int(len(ms) * q))]  # noqa: E731
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p90_ms": round(pick(0.90), 3),
        "p99_ms": round(pick(0.99), 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }
