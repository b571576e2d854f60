"""``python -m bench.compare``: install the peers, start every system, run the workloads, report.

This is the entry point, so it is the one place that reads the command line and the machine.
Servers and driver processes are always stopped in a ``finally``; a system that cannot be
installed or started is reported with its error in every table instead of being left out.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.compare import (
    ingest_throughput,
    logging_cost,
    peers,
    queries_at_scale,
    sweep_load,
)
from bench.compare.context import Bench
from bench.compare.peers import PeerInstall
from bench.compare.plan import sizes_for
from bench.compare.report import write
from bench.compare.results import Results
from bench.compare.systems import (
    REPO_ROOT,
    AimServer,
    CairnStack,
    MlflowServer,
    Server,
    StartError,
    System,
    Visibility,
)

WORKLOADS: dict[str, Callable[[Bench], None]] = {
    "1": logging_cost.run,
    "2": ingest_throughput.run,  # also workload 5 (resources)
    "3": sweep_load.run,
    "4": queries_at_scale.run,
}
MLFLOW_MODES = ("sync", "async", "async-buffered")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-sized run (under 5 minutes)")
    parser.add_argument("--output", type=Path, help="markdown file whose section is replaced")
    parser.add_argument("--workloads", default="1,2,3,4", help="comma-separated: 1,2,3,4")
    parser.add_argument(
        "--systems",
        default="cairn,mlflow,aim,aim-remote",
        help="comma-separated: cairn, mlflow, aim, aim-remote",
    )
    parser.add_argument("--repetitions", type=int, help="override the profile's repetitions")
    parser.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one size of the profile (see bench/compare/plan.py), e.g. store_runs=10000",
    )
    parser.add_argument(
        "--mlflow-mode",
        choices=MLFLOW_MODES,
        default="async-buffered",
        help="MLflow client mode for workloads 2-4 (workload 1 measures all)",
    )
    parser.add_argument("--workdir", type=Path, help="where servers keep data and logs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory's data")
    return parser.parse_args(argv)


def _machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "load": load,
    }


def _cairn_version() -> str:
    import cairn

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{cairn.__version__} (commit {commit}{dirty})"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = sizes_for(args.quick, args.repetitions, args.size)
    mode = "quick" if args.quick else "full"
    began = time.monotonic()
    stamp = datetime.now(UTC)
    workdir = args.workdir or REPO_ROOT / ".cairn" / "bench-compare" / stamp.strftime(
        "%Y%m%d-%H%M%S"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    output = args.output or (
        REPO_ROOT / "docs" / "benchmarks.md" if not args.quick else workdir / "benchmarks.md"
    )

    def log(line: str) -> None:
        print(f"[{time.monotonic() - began:6.0f} s] {line}", flush=True)

    command = "make bench" + (" QUICK=1" if args.quick else "")
    if argv is not None or sys.argv[1:] not in ([], ["--quick"]):
        command = "python -m bench.compare " + " ".join(argv if argv is not None else sys.argv[1:])
    results = Results(
        mode=mode,
        started_at=stamp.strftime("%Y-%m-%d %H:%M UTC"),
        machine=_machine(),
        sizes=sizes.as_dict(),
        command=command,
    )
    results.notes["scaling"] = sizes.scaling_notes()
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    log(f"bench.compare ({mode}), work directory {workdir}")

    log("peers: resolving and installing")
    cache = (
        Path(os.environ.get("CAIRN_CACHE_DIR", Path.home() / ".cache" / "cairn")) / "bench-peers"
    )
    installs: dict[str, PeerInstall] = {}
    for package in ("mlflow", "aim"):
        if any(key.startswith(package) for key in wanted):
            installs[package] = peers.ensure_peer(package, cache, log)
            install = installs[package]
            results.installs.append(
                {
                    "name": package,
                    "version": install.version,
                    "venv": str(install.venv or ""),
                    "install_seconds": install.install_seconds,
                    "cached": install.cached,
                    "note": install.note,
                    "error": install.error,
                }
            )
            log(
                f"  {package}: {install.version or 'not installed'}"
                + (f" — {install.error}" if install.error else "")
            )

    servers: list[Server] = []
    systems: dict[str, System] = {}
    unavailable: dict[str, str] = {}
    try:
        _start_systems(
            wanted, installs, workdir, servers, systems, unavailable, results, args.mlflow_mode, log
        )
        bench = Bench(sizes, results, systems, unavailable, workdir, log, args.mlflow_mode)
        for number in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            log(f"workload {number}")
            try:
                WORKLOADS[number](bench)
            except Exception as exc:  # keep the other workloads' results; say what broke
                log(f"  workload {number} stopped by a harness error:\n{traceback.format_exc()}")
                results.note("setup", f"Workload {number} stopped early: harness error {exc!r}.")
    finally:
        for system in systems.values():
            results.versions[system.key] = dict(system.versions)
            system.close()
        _stop_all(servers, log)
        if not args.keep:
            _drop_data(workdir)
    results.duration_s = time.monotonic() - began
    results.machine["load_end"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results.save(workdir / "results.json")
    plot_python = (
        peers.plotting_python([i for i in installs.values() if i.ok], cache, log)
        if installs
        else None
    )
    for path in write(results, output, plot_python):
        log(f"wrote {path}")
    log(f"done in {results.duration_s / 60:.1f} min; raw results in {workdir / 'results.json'}")
    return 0


def _drop_data(workdir: Path) -> None:
    """Delete the servers' stores (they can be gigabytes) but keep every log."""
    for data in workdir.glob("*/data"):
        for log_file in data.rglob("*.log"):
            target = data.parent / "logs" / log_file.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log_file, target)
        shutil.rmtree(data, ignore_errors=True)


def _start_systems(
    wanted: list[str],
    installs: dict[str, PeerInstall],
    workdir: Path,
    servers: list[Server],
    systems: dict[str, System],
    unavailable: dict[str, str],
    results: Results,
    mlflow_mode: str,
    log: Callable[[str], None],
) -> None:
    pending: list[tuple[Server, list[str], Callable[[], None]]] = []

    def start(server: Server, keys: list[str], then: Callable[[], None]) -> None:
        pending.append((server, keys, then))

    if "cairn" in wanted:
        results.systems["cairn"] = "Cairn"
        results.products["Cairn"] = _cairn_version()
        stack = CairnStack(workdir / "cairn" / "data")

        def cairn_system() -> None:
            for note in stack.notes:
                results.note("setup", note)
            systems["cairn"] = System(
                "cairn",
                results.systems["cairn"],
                stack,
                Path(sys.executable),
                "cairn_driver.py",
                {**stack.connection, "spool_dir": str(workdir / "cairn" / "data" / "sdk")},
                Visibility.SERVER,
                workdir / "cairn",
            )

        start(stack, ["cairn"], cairn_system)
    mlflow = installs.get("mlflow")
    if "mlflow" in wanted and mlflow is not None:
        keys = ["mlflow", *(f"mlflow-{m}" for m in MLFLOW_MODES)]
        results.products["MLflow"] = mlflow.version or "(not installed)"
        for key in keys:
            client_mode = mlflow_mode if key == "mlflow" else key.removeprefix("mlflow-")
            results.systems[key] = f"MLflow ({client_mode})"
        if not mlflow.ok:
            for key in keys:
                unavailable[key] = f"mlflow could not be installed: {mlflow.error}"
        else:
            mlflow_server = MlflowServer(workdir / "mlflow", mlflow.python)

            def mlflow_systems(
                server: MlflowServer = mlflow_server, keys: list[str] = keys
            ) -> None:
                for key in keys:
                    client_mode = mlflow_mode if key == "mlflow" else key.removeprefix("mlflow-")
                    env = (
                        {"MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS": "1"}
                        if (client_mode == "async-buffered")
                        else {}
                    )
                    systems[key] = System(
                        key,
                        results.systems[key],
                        server,
                        mlflow.python,
                        "mlflow_driver.py",
                        {
                            "tracking_uri": server.uri,
                            "db_path": str(server.db_path),
                            "mode": client_mode,
                        },
                        Visibility.CLIENT,
                        workdir / "mlflow",
                        env=env,
                    )

            start(mlflow_server, keys, mlflow_systems)
            results.notes.setdefault("setup", []).append(
                f"MLflow: `mlflow server --backend-store-uri sqlite:///… --host 127.0.0.1` "
                f"(default workers); workloads 2-4 use the `{mlflow_mode}` client mode"
                + (
                    " (`MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`, MLflow's documented "
                    "setting that merges queued values into requests of up to 1,000)"
                    if mlflow_mode == "async-buffered"
                    else ""
                )
                + "."
            )
    aim = installs.get("aim")
    for key, remote in (("aim", False), ("aim-remote", True)):
        if key not in wanted or aim is None:
            continue
        results.products["Aim"] = aim.version or "(not installed)"
        results.systems[key] = "Aim (remote server)" if remote else "Aim (local repo)"
        if not aim.ok:
            unavailable[key] = f"aim could not be installed: {aim.error}"
            continue
        aim_server = AimServer(
            workdir / key, aim.python, remote=remote, name="aim server" if remote else "aim up"
        )

        def aim_system(
            key: str = key, server: AimServer = aim_server, remote: bool = remote
        ) -> None:
            config = {"repo": server.tracking_uri, "query_repo": str(server.repo)}
            systems[key] = System(
                key,
                results.systems[key],
                server,
                aim.python,
                "aim_driver.py",
                config,
                Visibility.SERVER,  # runs are queryable only once `aim up` indexed them
                workdir / key,
                load_parallelism=2,
            )

        start(aim_server, [key], aim_system)
    _start_all(pending, servers, unavailable, log)
    if "aim" in systems or "aim-remote" in systems:
        results.notes.setdefault("setup", []).append(
            "Aim: runs become visible to its query API only once `aim up` (its UI, which runs "
            "the repository indexer) has indexed them, so `aim up` runs as Aim's server in both "
            "modes; remote mode adds `aim server`, and its clients log to `aim://`."
        )


def _start_all(
    pending: list[tuple[Server, list[str], Callable[[], None]]],
    servers: list[Server],
    unavailable: dict[str, str],
    log: Callable[[str], None],
) -> None:
    """Start the servers side by side (each mostly waits for its own health check), then make
    the systems of those that came up; a server that did not is recorded for its systems."""

    def one(server: Server) -> str:
        try:
            server.start()
        except (StartError, OSError, subprocess.SubprocessError, ValueError) as exc:
            return str(exc)
        return ""

    log("starting " + ", ".join(server.name for server, _, _ in pending))
    with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
        errors = list(pool.map(one, [server for server, _, _ in pending]))
    for (server, keys, then), error in zip(pending, errors, strict=True):
        servers.append(server)  # stopped at the end even if it only half started
        if error:
            for key in keys:
                unavailable[key] = f"{server.name} did not start: {error}"
            log(f"  {server.name} failed: {error}")
        else:
            then()


def _stop_all(servers: list[Server], log: Callable[[str], None]) -> None:
    def one(server: Server) -> str:
        try:
            server.stop()
        except Exception as exc:  # stopping the others matters more than this error
            return f"{server.name} did not stop cleanly: {exc}"
        return ""

    log("stopping " + ", ".join(server.name for server in servers))
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        for error in pool.map(one, servers):
            if error:
                log(f"  {error}")
