"""Generate Cairn's Python contract code from ``proto/cairn/v1/*.proto``: the one command.

``python proto/generate.py`` writes ``contract/cairn_contract/v1/*_pb2.py``, ``*_pb2.pyi``
(mypy-protobuf) and the gRPC stubs, plus the SDK's re-export ``sdk/cairn/v1/__init__.py``;
``python proto/generate.py --check`` regenerates into a temporary directory and exits 1, naming
the stale files, when the checked-in code differs. The code lives in the ``cairn-contract``
distribution (``contract/``), which every other part depends on and which needs only grpcio and
protobuf at run time; ``proto/`` keeps the .proto sources.

The .proto files stay at ``cairn/v1/*.proto`` with package ``cairn.v1`` (the wire names, the
descriptor pool's file names and the gRPC service path ``/cairn.v1.Ingest/...`` are unchanged);
only the *Python* module path differs, so protoc's ``from cairn.v1 import x_pb2`` lines and the
module names handed to the protobuf builder are rewritten to ``cairn_contract.v1``. The SDK's
``cairn/v1/__init__.py`` re-exports every generated module under its historical name, so users'
``from cairn.v1 import events_pb2`` and ``import cairn.v1.events_pb2`` keep working and give the
very same classes.

Everything is produced by ``grpc_tools.protoc`` run in this interpreter, with mypy-protobuf's
plugins taken from the same virtualenv, so the output depends only on the pinned tool versions.
gRPC stub modules are kept only for files that declare a service; protoc also emits empty ones
for the others, which would be noise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_DIR = Path("cairn") / "v1"  # where the .proto files are, below proto/ (their import path)
OUTPUT_PACKAGE_DIR = Path("cairn_contract") / "v1"  # the generated Python package
OUTPUT_ROOT = ROOT / "contract"
SDK_SHIM = ROOT / "sdk" / "cairn" / "v1" / "__init__.py"
_IMPORT_LINE = re.compile(r"^from cairn\.v1 import ", re.MULTILINE)
_BUILDER_MODULE = re.compile(r"'cairn\.v1\.(\w+_pb2)'")
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _is_generated(path: Path) -> bool:
    return path.name.endswith(GENERATED_SUFFIXES)


def _declares_service(proto: Path) -> bool:
    return any(line.lstrip().startswith("service ") for line in proto.read_text().splitlines())


def _plugin(name: str) -> str:
    executable = Path(sys.executable).parent / name
    if not executable.exists():
        raise SystemExit(
            f"generate.py: {executable} not found; install the dev extras (mypy-protobuf)"
        )
    return f"--plugin={name}={executable}"


def generate(out_root: Path) -> list[Path]:
    """Run protoc over every contract file into ``out_root``; return the generated files."""
    protos = sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    if not protos:
        raise SystemExit(f"generate.py: no .proto files under {PROTO_ROOT / PACKAGE_DIR}")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        _plugin("protoc-gen-mypy"),
        _plugin("protoc-gen-mypy_grpc"),
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    # mypy-protobuf announces every file it writes on stderr; show that only when protoc fails.
    with tempfile.TemporaryFile() as chatter:
        saved_stderr = os.dup(2)
        os.dup2(chatter.fileno(), 2)
        try:
            status = protoc.main(args)
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
        if status != 0:
            chatter.seek(0)
            sys.stderr.write(chatter.read().decode(errors="replace"))
            raise SystemExit("generate.py: protoc failed (see the messages above)")
    with_service = {p.stem for p in protos if _declares_service(p)}
    generated = []
    for path in sorted((out_root / PACKAGE_DIR).iterdir()):
        stem = path.name.split("_pb2")[0]
        if "_pb2_grpc" in path.name and stem not in with_service:
            path.unlink()
        elif _is_generated(path):
            generated.append(_to_contract_package(path))
    return generated


def _to_contract_package(path: Path) -> Path:
    """Rewrite one generated file's Python module references to ``cairn_contract.v1``."""
    text = _IMPORT_LINE.sub("from cairn_contract.v1 import ", path.read_text())
    text = _BUILDER_MODULE.sub(r"'cairn_contract.v1.\1'", text)
    path.write_text(text)
    return path


def sdk_shim(modules: list[str]) -> bytes:
    """The SDK's ``cairn/v1/__init__.py``: every generated module under its historical name."""
    imports = "\n".join(
        f"from cairn_contract.v1 import {name} as {name}" for name in sorted(modules)
    )
    names = "".join(f'    "{name}",\n' for name in sorted(modules))
    return (
        '"""The contract\'s generated protobuf/gRPC code under its historical name ``cairn.v1``.\n'
        "\n"
        "Generated by proto/generate.py (do not edit). The code itself lives in the cairn-contract\n"
        "distribution (``cairn_contract.v1``); each name here is that very module, and each is also\n"
        "registered as ``cairn.v1.<name>`` so ``import cairn.v1.events_pb2`` works as well.\n"
        '"""\n'
        "\n"
        "import sys\n"
        "\n"
        f"{imports}\n"
        "\n"
        f"_MODULES = (\n{names})\n"
        "for _name in _MODULES:\n"
        '    sys.modules[f"{__name__}.{_name}"] = globals()[_name]\n'
    ).encode()


def _current_files() -> dict[str, bytes]:
    target = OUTPUT_ROOT / OUTPUT_PACKAGE_DIR
    current = {p.name: p.read_bytes() for p in target.iterdir() if _is_generated(p)}
    if SDK_SHIM.exists():
        current[_SHIM_KEY] = SDK_SHIM.read_bytes()
    return current


_SHIM_KEY = "sdk/cairn/v1/__init__.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the checked-in code is stale; write nothing"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cairn-proto-") as tmp:
        fresh = {p.name: p.read_bytes() for p in generate(Path(tmp))}
        fresh[_SHIM_KEY] = sdk_shim([n.removesuffix(".py") for n in fresh if n.endswith(".py")])
        current = _current_files()
        stale = sorted(
            name for name in fresh.keys() | current.keys() if fresh.get(name) != current.get(name)
        )
        if args.check:
            if stale:
                print(
                    f"generated protobuf code in {OUTPUT_ROOT / OUTPUT_PACKAGE_DIR} is stale "
                    f"({', '.join(stale)}); run `make proto` and commit the result",
                    file=sys.stderr,
                )
                return 1
            print(f"generated protobuf code is up to date ({len(fresh)} files)")
            return 0
        target = OUTPUT_ROOT / OUTPUT_PACKAGE_DIR
        for name in current.keys() - fresh.keys():
            (target / name).unlink()
        for name, content in fresh.items():
            if name == _SHIM_KEY:
                SDK_SHIM.write_bytes(content)
            else:
                shutil.copyfile(Path(tmp) / PACKAGE_DIR / name, target / name)
        print(f"wrote {len(fresh)} files to {target} ({len(stale)} changed)")
        return 0


if __name__ == "__main__":
    sys.exit(main())
