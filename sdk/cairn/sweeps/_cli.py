"""``cairn sweep SWEEP.yaml [options] -- COMMAND``: a sweep whose trials are commands.

For each trial this process creates the trial's run, lets it go, and starts the command with the
params appended as ``--name=value`` (``params: args``) or as ``CAIRN_PARAM_<NAME>`` variables
(``params: env``); ``CAIRN_SWEEP_PARAMS`` always holds them as JSON. ``CAIRN_RESUME`` makes the
script's ``cairn.init()`` continue the trial's run, so what the script logs lands on it. The
script reports the objective with ``cairn.sweeps.report(value, step)`` and asks
``cairn.sweeps.should_prune()``; both travel over a pipe to this process, which owns the Optuna
trial. When the command exits, this process takes the run back and records the outcome:

- exit status 0 after ``should_prune()`` said True: *pruned* at the last reported step;
- exit status 0: *complete*, the last reported value being the trial's value (none reported:
  *failed*);
- any other status: *failed* (*killed* for a signal), with the end of the command's stderr.

Registered through the ``cairn.cli`` entry-point group; Optuna loads only when the verb runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cairn.errors import CairnError, ValidationError

if TYPE_CHECKING:
    from cairn.run import Run
    from cairn.sweeps._config import SweepDefinition
    from cairn.sweeps._trial import Trial

STDERR_TAIL_BYTES = 8192
STOP_GRACE_S = 10.0  # how long an interrupted command gets to exit before it is killed


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a hyperparameter sweep defined in a YAML file, one command per trial",
        description="Run (or join, or resume) the sweep SWEEP.yaml defines. Each trial runs "
        "COMMAND with the trial's params; every process started with the same file and "
        "storage shares the sweep. See docs/sweeps.md.",
    )
    parser.add_argument("sweep_file", metavar="SWEEP.yaml")
    _add_options(parser)
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND",
        help="the training command (default: command: in the sweep file)",
    )
    parser.set_defaults(func=cmd_sweep)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, help="run at most N trials in this process")
    parser.add_argument("--n-trials", type=int, help="the sweep's budget (overrides n_trials)")
    parser.add_argument("--storage", help="Optuna storage URL shared by the sweep's processes")
    parser.add_argument("--study", help="study name (default: the sweep file's name)")
    parser.add_argument("--timeout", type=float, help="stop starting trials after N seconds")
    parser.add_argument("--project", help="project of the sweep's runs (default: CAIRN_PROJECT)")


def _split_command(args: argparse.Namespace) -> list[str]:
    """Options may follow the file (argparse's remainder takes them): read them, return what
    follows ``--`` (argparse drops that ``--`` when no option follows the file)."""
    rest = list(args.command)
    if "--" in rest:
        split = rest.index("--")
    else:
        split = len(rest) if rest and rest[0].startswith("-") else -1
    late = argparse.ArgumentParser(prog="cairn sweep", add_help=False)
    _add_options(late)
    late.parse_args(rest[: max(split, 0)], namespace=args)
    return rest[split + 1 :]


def cmd_sweep(args: argparse.Namespace) -> int:
    from cairn.sweeps._config import load
    from cairn.sweeps._runner import run_sweep

    command = tuple(_split_command(args))
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    definition = load(
        args.sweep_file,
        storage=args.storage,
        study=args.study,
        n_trials=args.n_trials,
        timeout=args.timeout,
    )
    command = command or definition.command
    if not command:
        raise ValidationError(
            "command: give the training command after --, or command: in the sweep file",
            field="command",
            rule="required",
        )
    objective = CommandObjective(command, definition)
    if shutil.which(objective.command[0]) is None:
        raise ValidationError(
            f"command: {objective.command[0]!r} is not a program on PATH (rule command_found)",
            field="command",
            rule="command_found",
        )
    result = run_sweep(
        objective,
        definition,
        default_study=re.sub(r"[^A-Za-z0-9._-]+", "-", Path(args.sweep_file).stem) or "sweep",
        project=args.project,
        max_trials=args.count,
        optuna_log_level=logging.ERROR,  # trials are reported below, failures by the command
    )
    best = ""
    if result.best_trial is not None:
        best = (
            f"; best trial {result.best_trial.number}: {definition.objectives[0]}="
            f"{result.best_value:.6g} (run {result.best_run_id})"
        )
    print(
        f"sweep {result.study_name} (run {result.run_id}): {result.complete} complete, "
        f"{result.pruned} pruned, {result.failed} failed{best}",
        flush=True,
    )
    return 0


class TrialCommandFailed(CairnError):
    """The trial's command exited with a non-zero status; its stderr's end is a note."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, field="command", rule="exit_status")
        self.killed = status < 0  # ended by a signal
        self.exit_code = 128 - status if status < 0 else status  # as a shell reports it


class CommandObjective:
    """Runs the command for a trial and turns its exit and reports into the trial's result."""

    def __init__(self, command: Sequence[str], definition: SweepDefinition) -> None:
        first = command[0]
        self.command = (sys.executable if first in ("python", "python3") else first, *command[1:])
        self.definition = definition

    def __call__(self, trial: Trial) -> tuple[float, ...]:
        argv = [*self.command, *(_arguments(trial.params) if self._as_args else [])]
        env = self._environment(trial)
        run = trial.run
        run.detach()
        try:
            status, tail = self._run(argv, env, trial)
        except Exception:
            print(f"trial {trial.number}: failed in cairn sweep itself:", file=sys.stderr)
            traceback.print_exc()
            raise
        finally:
            trial.run = _take_back(run)
        return self._outcome(trial, status, tail)

    @property
    def _as_args(self) -> bool:
        return self.definition.params == "args"

    def _environment(self, trial: Trial) -> dict[str, str]:
        from cairn.sweeps import _script

        run = trial.run
        env = dict(os.environ)
        env.update(
            {
                "CAIRN_RESUME": run.id,
                "CAIRN_PROJECT": run.project,
                "CAIRN_DIR": str(run.settings.dir),
                _script.ENV_SWEEP: run.parent_id,
                _script.ENV_TRIAL: str(trial.number),
                _script.ENV_PARAMS: json.dumps(dict(trial.params)),
                _script.ENV_OBJECTIVES: json.dumps(list(self.definition.objectives)),
            }
        )
        if not self._as_args:
            for name, value in trial.params.items():
                variable = re.sub(r"[^A-Z0-9]", "_", name.upper())
                env[f"{_script.ENV_PARAM_PREFIX}{variable}"] = _text(value)
        return env

    def _run(self, argv: list[str], env: dict[str, str], trial: Trial) -> tuple[int, str]:
        """Run the command, answering its reports; returns its exit status and stderr's end."""
        from cairn.sweeps._script import ENV_CHANNEL

        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        env[ENV_CHANNEL] = f"{requests_w},{replies_r}"
        try:
            process = subprocess.Popen(
                argv, env=env, pass_fds=(requests_w, replies_r), stderr=subprocess.PIPE
            )
        except OSError:
            for fd in (requests_r, requests_w, replies_r, replies_w):
                os.close(fd)
            raise
        os.close(requests_w)
        os.close(replies_r)
        assert process.stderr is not None
        tail = _StderrTail(process.stderr)
        tail.start()
        try:
            self._serve(process, requests_r, replies_w, trial)
            status = process.wait()
        except KeyboardInterrupt:
            _stop(process)  # it got the Ctrl-C too: let it record its end
            raise
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            os.close(requests_r)
            os.close(replies_w)
            tail.join(timeout=5)
        return status, tail.text()

    def _serve(
        self, process: subprocess.Popen[bytes], requests: int, replies: int, trial: Trial
    ) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([requests], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    return
                continue
            chunk = os.read(requests, 65536)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                reply = self._answer(json.loads(line), trial)
                try:
                    os.write(replies, json.dumps(reply).encode() + b"\n")
                except BrokenPipeError:
                    return

    def _answer(self, request: Mapping[str, Any], trial: Trial) -> dict[str, Any]:
        try:
            if request.get("op") == "report":
                values = tuple(float(v) for v in request["values"])
                if len(values) != len(self.definition.objectives):
                    raise ValueError(f"expected {len(self.definition.objectives)} value(s)")
                trial.record(values, int(request["step"]))
                return {"ok": True}
            if request.get("op") == "should_prune":
                return {"prune": bool(trial.should_prune())}
            return {"error": f"unknown request {request.get('op')!r}"}
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": f"bad report: {exc}"}

    def _outcome(self, trial: Trial, status: int, tail: str) -> tuple[float, ...]:
        from cairn.sweeps._script import TrialPruned

        label = f"trial {trial.number}"
        if status != 0:
            what = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
            print(f"{label}: failed, the command {what}", flush=True)
            error = TrialCommandFailed(f"the trial's command {what}", status=status)
            if tail.strip():
                error.add_note(tail.rstrip())
            raise error
        if trial.last_prune_answer:
            print(f"{label}: pruned at step {trial.last_step}", flush=True)
            raise TrialPruned(f"pruned at step {trial.last_step}")
        values = trial.last_values
        if values is None:
            print(f"{label}: failed, no objective value reported", flush=True)
            raise ValidationError(
                "objective: the command reported no value; call "
                "cairn.sweeps.report(value, step) in it (rule value_reported)",
                field="objective",
                rule="value_reported",
            )
        shown = ", ".join(
            f"{n}={v:.6g}" for n, v in zip(self.definition.objectives, values, strict=True)
        )
        print(f"{label}: complete, {shown}", flush=True)
        return values


def _take_back(run: Run) -> Run:
    """The trial's run, resumed here after the command let it go (a run that records nothing
    when another process keeps holding it, so the sweep goes on)."""
    import cairn
    from cairn.config import Mode
    from cairn.sweeps._runs import resume

    resumed = resume(run.settings, run.id)
    if resumed is not None:
        return resumed
    return cairn.init(run_id=run.id, settings=replace(run.settings, mode=Mode.DISABLED))


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Let an interrupted command end (it got the Ctrl-C too), then kill it."""
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _arguments(params: Mapping[str, Any]) -> list[str]:
    return [f"--{name}={_text(value)}" for name, value in params.items()]


def _text(value: object) -> str:
    """A param as text: strings and numbers as Python prints them, booleans and None as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


class _StderrTail(threading.Thread):
    """Copies the command's stderr to ours and keeps its end for the failure record."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(name="cairn-sweep-stderr", daemon=True)
        self._stream = stream
        self._tail = b""

    def run(self) -> None:
        out = getattr(sys.stderr, "buffer", None)
        read = getattr(self._stream, "read1", self._stream.read)
        for chunk in iter(lambda: read(4096), b""):
            if out is not None:
                out.write(chunk)
                out.flush()
            else:
                sys.stderr.write(chunk.decode(errors="replace"))
            self._tail = (self._tail + chunk)[-STDERR_TAIL_BYTES:]

    def text(self) -> str:
        return self._tail.decode(errors="replace")
