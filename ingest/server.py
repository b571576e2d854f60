"""Assembling and running one ingest server: gRPC ingest, the query service (``cairn.v1.Query``,
when a ClickHouse URL is configured), health and reflection services, the Kafka publisher, the
identity log and the metrics endpoint. Both gRPC services share the API-key interceptor and the
identity registry, so a key works the same for writing and reading.

Start-up order makes "SERVING" mean something: the publisher connects and the identity topic
is replayed before the port serves, and health turns SERVING last. Shutdown reverses it: health
says NOT_SERVING, Publish streams end after acking the batches they read (the SDK reconnects from
its spool), ``server.stop(grace)`` lets other open calls finish, then the publisher drains every in-flight record into Kafka
before it closes.
"""

from __future__ import annotations

import asyncio

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cairn_contract.errors import UnavailableError
from domain.identity import IdentityRegistry
from ingest.auth import ApiKeyInterceptor
from ingest.identity_log import IdentityLog
from ingest.ingest_metrics import IngestMetrics
from ingest.ownership_log import InMemoryOwnership, OwnershipLog, OwnershipStore
from ingest.publisher import KafkaPublisher, Publisher
from ingest.service import SERVICE_NAME, IngestService
from ingest.settings import IngestSettings
from query.client import ClickHouseTarget, connect
from queryservice.service import SERVICE_NAME as QUERY_SERVICE_NAME
from queryservice.service import QueryService
from servicekit.envconfig import split_host_port

log = structlog.get_logger(__name__)


class IngestServer:
    """``publisher``, ``registry`` and ``ownership`` replace Kafka for unit tests: with a
    registry given, no identity log is read; with a publisher given, no producer is created; with
    an ownership store given, no ownership log is kept."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        publisher: Publisher | None = None,
        registry: IdentityRegistry | None = None,
        ownership: OwnershipStore | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = IngestMetrics()
        self.publisher: Publisher = publisher or KafkaPublisher(
            settings.kafka_bootstrap,
            max_in_flight_bytes=settings.max_in_flight_bytes,
            linger_ms=settings.kafka_linger_ms,
            max_batch_bytes=settings.kafka_max_batch_bytes,
            max_request_bytes=settings.kafka_max_request_bytes,
            compression=settings.kafka_compression,
            request_timeout_ms=settings.kafka_request_timeout_ms,
        )
        self.identity: IdentityLog | None = None
        if registry is None:
            self.identity = IdentityLog(
                settings.kafka_bootstrap, settings.identity_topic, pepper=settings.api_key_pepper
            )
            registry = self.identity.registry
        self.registry = registry
        if ownership is None:
            ownership = (
                InMemoryOwnership()
                if publisher is not None
                else OwnershipLog(settings.kafka_bootstrap, settings.ownership_log_topic)
            )
        self.ownership = ownership
        self.service = IngestService(
            settings,
            self.publisher,
            self.metrics,
            registry=registry,
            ownership=self.ownership,
            identity_catch_up=self.identity.catch_up if self.identity is not None else None,
        )
        self.query: QueryService | None = None
        if settings.clickhouse_url:
            url = settings.clickhouse_url
            ClickHouseTarget.from_url(url)  # a malformed URL fails at start, not per call
            self.query = QueryService(registry, lambda: connect(url))
        self._health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = 0
        self.metrics_port: int | None = None

    @property
    def address(self) -> str:
        host, _ = split_host_port(self.settings.listen, name="CAIRN_INGEST_LISTEN")
        return f"{host}:{self.port}"

    async def start(self) -> None:
        await self.publisher.start()
        try:
            if self.identity is not None:
                await self.identity.start()
            await self.ownership.start()
            await self._start_grpc()
        except BaseException:
            await self._stop_dependencies()
            raise
        if self.settings.metrics_port is not None:
            host, _ = split_host_port(self.settings.listen, name="CAIRN_INGEST_LISTEN")
            self.metrics_port = self.metrics.serve(host, self.settings.metrics_port)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self._health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        if self.query is not None:
            await self._health.set(QUERY_SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "ingest serving",
            address=self.address,
            metrics_port=self.metrics_port,
            query_service=self.query is not None,
        )

    async def _start_grpc(self) -> None:
        receive = self.settings.grpc_max_receive_bytes
        server = grpc.aio.server(
            interceptors=[
                ApiKeyInterceptor(self.registry, on_reject=self.service.record_rejection)
            ],
            options=[
                ("grpc.max_receive_message_length", receive),
                ("grpc.max_send_message_length", 4 << 20),
            ],
        )
        server.add_generic_rpc_handlers((self.service.rpc_handler(),))
        names = [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME]
        if self.query is not None:
            server.add_generic_rpc_handlers((self.query.rpc_handler(),))
            names.append(QUERY_SERVICE_NAME)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(names, server)
        try:
            self.port = server.add_insecure_port(self.settings.listen)
        except RuntimeError as exc:
            raise UnavailableError(f"cannot listen on {self.settings.listen}: {exc}") from exc
        await server.start()
        self._server = server

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; open calls get ``grace`` seconds (default from settings), then every
        record handed to the publisher is acknowledged before Kafka connections close."""
        await self._health.enter_graceful_shutdown()
        self.service.drain()  # Publish streams end after their read batches' acks: no grace wait
        try:
            if self._server is not None:
                await self._server.stop(self.settings.shutdown_grace_s if grace is None else grace)
        finally:
            await self._stop_dependencies()
            await asyncio.to_thread(self.metrics.stop)  # its HTTP thread polls every 0.5 s
            if self.query is not None:
                self.query.close()
            log.info("ingest stopped")

    async def _stop_dependencies(self) -> None:
        try:
            await self.publisher.stop()
        finally:
            try:
                await self.ownership.stop()
            finally:
                if self.identity is not None:
                    await self.identity.stop()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
