"""Health probes for each part of the stack, as an operator (or ``cairn status``) would check them."""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def http_ok(url: str, *, timeout: float = 2.0, expect: bytes | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own loopback URLs
            body: bytes = response.read()
            return response.status == 200 and (expect is None or body.startswith(expect))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def grpc_serving(address: str, *, service: str = "", timeout: float = 2.0) -> bool:
    """True when the standard gRPC health service at ``address`` answers SERVING for
    ``service`` ("" is the server as a whole)."""
    try:
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m localstack.health grpc HOST:PORT`` or ``... http URL``: exit 0 when healthy.

    The container image's health checks (compose, Helm probes) use this: the image has no curl.
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("grpc", "http"):
        print("usage: python -m localstack.health grpc HOST:PORT | http URL", file=sys.stderr)
        return 2
    healthy = grpc_serving(args[1]) if args[0] == "grpc" else http_ok(args[1])
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
