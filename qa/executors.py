"""Executors: where a batch's transcriptions run. One registration per executor, found by name.

An executor is a function `run(runner, jobs, run_id, done, workers=..., **options)` that gets
every `qa.runner.Job` transcribed somewhere and hands each result to `runner._finish(job,
transcript_or_exception, run_id)` in this process (the one database writer), passing the
outcome to `done` as it arrives. A model that cannot be loaded is raised as a ModelError; a file
that cannot be transcribed is that file's failure. Register one with `@executor("name")`
(`needs=` names a module that must be importable, checked before anything is written).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import catalogue

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "executor", "get_executor"]

EXECUTORS = catalogue.create("callqa", "executors")


class ExecutorError(Exception):
    """An executor that is unknown, not installed or cannot start (one line for the user)."""


@dataclass(frozen=True)
class Executor:
    name: str
    run: Callable
    needs: str | None = None  # a module that must be importable (an optional extra)
    install: str | None = None  # how to install it

    def check(self) -> "Executor":
        """This executor, or an ExecutorError saying what to install."""
        if self.needs and importlib.util.find_spec(self.needs) is None:
            raise ExecutorError(f"--executor {self.name} needs {self.install or self.needs}")
        return self


def executor(name: str, needs: str | None = None, install: str | None = None):
    """Register the decorated function as the executor `name`."""
    def register(run: Callable) -> Callable:
        EXECUTORS.register(name, func=Executor(name, run, needs, install))
        return run
    return register


def get_executor(name: str) -> Executor:
    """The executor registered as `name`, checked to be usable (ExecutorError otherwise)."""
    try:
        found = EXECUTORS.get(name)
    except catalogue.RegistryError:
        known = ", ".join(sorted(EXECUTORS.get_all()))
        raise ExecutorError(f"--executor {name}: unknown executor (use {known})") from None
    return found.check()


@executor("local")
def run_local(runner, jobs: list, run_id: str, done: Callable, workers: int | None = 1) -> None:
    """Transcribe in this process (workers <= 1 or a single file) or in a pool of `workers`
    processes on this machine (`BatchRunner._run_parallel`, which replaces dead workers)."""
    if (workers or 1) <= 1 or len(jobs) <= 1:
        for job in jobs:
            done(runner._finish(job, runner._transcribe_here(job), run_id))
    else:
        runner._run_parallel(jobs, workers, run_id, done)


@executor("ray", needs="ray", install="Ray: pip install 'callqa[ray]'")
def run_ray(runner, jobs: list, run_id: str, done: Callable, workers: int | None = None,
            address: str | None = None) -> None:
    """Transcribe on Ray actors (this machine, or the cluster at `address`): `qa.ray_executor`."""
    from qa.ray_executor import run_on_ray

    run_on_ray(runner, jobs, run_id, done, workers=workers, address=address)
