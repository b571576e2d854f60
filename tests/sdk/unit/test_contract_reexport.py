"""The SDK keeps ``cairn.v1`` and ``cairn.errors`` importable: the very contract types."""

from __future__ import annotations

import importlib
import subprocess
import sys

import cairn_contract.errors


def test_cairn_v1_modules_are_the_contract_modules() -> None:
    import cairn.v1
    import cairn.v1.events_pb2
    from cairn.v1 import events_pb2, ingest_pb2_grpc

    assert events_pb2 is importlib.import_module("cairn_contract.v1.events_pb2")
    assert cairn.v1.events_pb2 is importlib.import_module("cairn_contract.v1.events_pb2")
    assert events_pb2.Event is importlib.import_module("cairn_contract.v1.events_pb2").Event
    assert (
        ingest_pb2_grpc.IngestStub
        is importlib.import_module("cairn_contract.v1.ingest_pb2_grpc").IngestStub
    )
    # The wire names stay cairn.v1: a user's own client generated from the .proto files agrees.
    assert events_pb2.Event.DESCRIPTOR.full_name == "cairn.v1.Event"


def test_cairn_errors_are_the_contract_errors() -> None:
    import cairn.errors

    assert cairn.errors.ValidationError is cairn_contract.errors.ValidationError
    assert cairn.errors.ErrorCode is cairn_contract.errors.ErrorCode


def test_import_cairn_v1_submodule_in_a_fresh_interpreter() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cairn.v1.events_pb2 as e; print(e.Event.DESCRIPTOR.full_name)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cairn.v1.Event"
