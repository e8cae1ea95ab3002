"""The "ray" executor: transcription (with diarization, which runs inside
`Transcriber.transcribe`) on Ray actors that each load the model once, on this machine or on a
Ray cluster. Transcripts stream back to this process, which scores and stores each one as it
arrives (`BatchRunner._finish`): the database lives only here, with its one writer.

Ray is an optional extra (`pip install 'callqa[ray]'`) and is imported only when this executor
runs. Audio is read by the actors, so every node must see each file at the same path.

Ray pitfalls and how this module meets them:
- Actors that hold every CPU leave other work pending: each actor asks for exactly the CPUs its
  CTranslate2 threads use (`num_cpus` = `cpu_threads`), and the pool is sized from the cluster's
  free resources and each node's size (`plan_pool`), never more actors than fit. All work runs
  as actor method calls, which need no further resources.
- A GPU request still reserves CPUs: a GPU actor asks for `num_gpus=1` and an explicit
  `num_cpus` (its CPU threads: audio decoding, VAD), and loads the model with device="cuda".
- A pool whose actors start one after another would hand every file to the first: all actors
  are created first and the batch waits until each has loaded its model (`ready()`; up to
  `ready_timeout` seconds for the first, then 30 s or twice that long for the others, which
  join when ready), then keeps about two files in flight per actor (`ray.wait`) so late and
  fast actors take their share. If none can be started, one ExecutorError says so.
- Nodes and actors die: files an actor held are handed to the live actors and the dead actor is
  replaced where the cluster has room (`max_restarts=0`: replacements are made here, where the
  files are tracked). A file whose actor died twice while transcribing it is recorded as failed
  with one line naming it; if no actor is left and none can be started, the files not yet
  transcribed are recorded as failed with a line saying to run the command again.
- Telemetry stays off (`RAY_USAGE_STATS_ENABLED=0`, no dashboard) and worker logs stay out of
  the progress display (`log_to_driver=False`). Without an address a private Ray instance is
  started on this machine, bound to 127.0.0.1, and shut down at the end.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from qa.executors import ExecutorError
from transcribe import TranscriberOptions
from transcribe.errors import ModelError

__all__ = ["IN_FLIGHT_PER_ACTOR", "PoolPlan", "READY_TIMEOUT_S", "TranscriberActor", "plan_pool", "run_on_ray"]

IN_FLIGHT_PER_ACTOR = 2  # one transcribing, one queued behind it: no actor waits for the driver
READY_TIMEOUT_S = 300.0  # for actors to be placed and load the model (a first run assembles it)
# An actor (or its node) is gone: ActorDiedError and ActorUnavailableError are RayActorErrors.
LOST_ERRORS = ("RayActorError", "WorkerCrashedError", "NodeDiedError", "ObjectLostError", "LocalRayletDiedError",
               "ActorUnschedulableError")
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024  # transcripts are small; Ray's default is 30% of memory


class TranscriberActor:
    """One Ray actor: loads the Whisper model once (`qa.runner.load_transcriber`) and transcribes
    files. A model that cannot be loaded is kept and given back by `ready()` and by every
    `transcribe()` (the driver stops the batch with it), as the local worker processes do."""

    def __init__(self, options: TranscriberOptions):
        from qa.runner import load_transcriber

        self.error: ModelError | None = None
        self.transcriber = None
        try:
            self.transcriber = load_transcriber(options)
        except ModelError as exc:
            self.error = ModelError(str(exc))  # plain, so it pickles without its cause

    def ready(self) -> ModelError | None:
        """None once the model is loaded, else the ModelError."""
        return self.error

    def transcribe(self, job):
        """The job's Transcript, the exception to record as its failure, or a ModelError."""
        from qa.runner import _transcribe_or_error

        return self.error or _transcribe_or_error(self.transcriber, job)


@dataclass(frozen=True)
class PoolPlan:
    """How many actors to start and what each asks Ray for."""

    actors: int
    num_cpus: float
    num_gpus: float
    options: TranscriberOptions  # with the device and CPU threads each actor loads the model with

    def describe(self) -> str:
        gpu = f" and {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{self.num_cpus:g} CPU{gpu}"


def plan_pool(nodes: list[dict[str, float]], available: dict[str, float], options: TranscriberOptions,
              workers: int | None = None) -> PoolPlan:
    """The actor pool for a cluster: `nodes` are the live nodes' total resources, `available`
    the cluster's free resources (`ray.available_resources()`), `workers` the number of actors
    asked for (None: as many as fit).

    GPU actors (device "cuda", or "auto" where the cluster has a free GPU): one GPU each plus
    `cpu_threads` CPUs (default 1). CPU actors: `cpu_threads` CPUs each (default: the free CPUs
    shared among `workers`, else 1, and never more than the largest node has). The count is
    capped by what each node can hold and by the free resources; an ExecutorError when not even
    one actor fits."""
    free_cpus = math.floor(available.get("CPU", 0) + 1e-9)
    free_gpus = math.floor(available.get("GPU", 0) + 1e-9)
    use_gpu = options.device == "cuda" or (options.device == "auto" and free_gpus >= 1)
    if use_gpu:
        threads = options.cpu_threads or 1
        fit = sum(min(math.floor(n.get("GPU", 0)), math.floor(n.get("CPU", 0) / threads)) for n in nodes)
        count = min(fit, free_gpus, free_cpus // threads)
        num_gpus, device = 1, "cuda"
    else:
        largest = max((math.floor(n.get("CPU", 0)) for n in nodes), default=0)
        threads = options.cpu_threads or max(1, min(free_cpus // workers if workers else 1, largest))
        fit = sum(math.floor(n.get("CPU", 0) / threads) for n in nodes)
        count = min(fit, free_cpus // threads)
        num_gpus, device = 0, "cpu"
    if workers:
        count = min(count, workers)
    if count < 1:
        need = f"{threads} CPU" + (" and 1 GPU" if use_gpu else "")
        raise ExecutorError(f"no room on the Ray cluster for a transcription actor (each needs {need}; "
                            f"free: {free_cpus} CPU, {free_gpus} GPU)")
    return PoolPlan(actors=count, num_cpus=threads, num_gpus=num_gpus,
                    options=replace(options, device=device, cpu_threads=threads))


def run_on_ray(runner, jobs: list, run_id: str, done: Callable, workers: int | None = None,
               address: str | None = None, ready_timeout: float = READY_TIMEOUT_S) -> None:
    """Transcribe `jobs` on Ray actors; each transcript is scored and stored here as it arrives
    (`runner._finish`) and its outcome passed to `done`. `address`: a running cluster ("auto",
    "HOST:PORT" of its head); None starts a private instance on this machine. If this process is
    already connected to Ray (`ray.init` called), that connection is used and kept."""
    ray = _import_ray(loopback=address is None)
    connected_here = not ray.is_initialized()
    if connected_here:
        _connect(ray, address)
    try:
        alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        plan = plan_pool(alive, ray.available_resources(), runner.settings.transcriber, workers)
        _Dispatcher(ray, plan, runner, jobs, run_id, done, ready_timeout).run()
    finally:
        if connected_here:
            ray.shutdown()


def _import_ray(loopback: bool):
    """Ray, with usage statistics off. `loopback`: a Ray started by this process binds to
    127.0.0.1 (Ray otherwise takes this machine's outward address, even for 127.0.0.1)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:  # `get_executor` checks this first; kept for callers that come here directly
        raise ExecutorError("--executor ray needs Ray: pip install 'callqa[ray]'") from None
    if loopback and "ray._private.ray_constants" in sys.modules:  # read when ray was first imported
        sys.modules["ray._private.ray_constants"].ENABLE_RAY_CLUSTER = False
    return ray


def _connect(ray, address: str | None) -> None:
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        if address is None:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
        else:
            _probe(address)
            quiet.pop("include_dashboard")  # a setting of the cluster's head, not of a driver
            ray.init(address=address, **quiet)
    except ConnectionError as exc:
        raise ExecutorError(f"--ray-address {address}: cannot connect to a Ray cluster there ({exc})") from None


def _probe(address: str, timeout: float = 5.0) -> None:
    """An ExecutorError unless something listens at a HOST:PORT address (Ray itself would retry
    for minutes, printing warnings). Other forms ("auto", "ray://...") are left to Ray."""
    host, _, port = address.rpartition(":")
    if not host or "/" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"--ray-address {address}: no Ray cluster answers there "
                            f"({exc.strerror or type(exc).__name__})") from None


@dataclass
class _Actor:
    handle: object
    in_flight: deque = field(default_factory=deque)  # object refs, in the order the actor runs them


class _Dispatcher:
    """Hands jobs to live actors (about two each in flight), finishes results as they arrive,
    and handles actors that die (see the module's notes)."""

    def __init__(self, ray, plan: PoolPlan, runner, jobs: list, run_id: str, done: Callable,
                 ready_timeout: float):
        import ray.exceptions as rex

        self.rex = rex
        self.ray, self.plan, self.runner, self.jobs, self.run_id, self.done = ray, plan, runner, jobs, run_id, done
        self.ready_timeout = ready_timeout
        self.lost_errors = tuple(getattr(rex, name) for name in LOST_ERRORS if hasattr(rex, name))
        self.actor_class = ray.remote(TranscriberActor).options(
            num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_restarts=0, max_task_retries=0)
        self.live: list[_Actor] = []
        self.starting: dict = {}  # ready() ref -> actor handle
        self.owner: dict = {}  # in-flight transcribe() ref -> (_Actor, job index)
        self.waiting = deque(range(len(jobs)))
        self.deaths: Counter = Counter()  # job index -> actors that died while transcribing it
        self.startup_deaths = 0  # actors in a row that died before loading the model
        self.last_loss: Exception | None = None

    def run(self) -> None:
        try:
            for _ in range(self.plan.actors):
                self._start_actor()
            self._await_ready(all_of_them=True)
            while self.waiting or self.owner:
                self._fill()
                if not self.owner:  # files left, no live actor: start one, or give up on them
                    started = self._replace() or bool(self.starting)
                    if not started or not self._await_ready(all_of_them=False):
                        self._fail_remaining()
                    continue
                ready, _ = self.ray.wait([*self.owner, *self.starting], num_returns=1)
                if ready[0] in self.starting:
                    self._started(ready[0])
                else:
                    self._collect(self.owner[ready[0]][0])
        finally:
            for handle in [a.handle for a in self.live] + list(self.starting.values()):
                self._kill(handle)

    def _kill(self, handle) -> None:
        try:
            self.ray.kill(handle, no_restart=True)
        except Exception:  # already gone with its node
            pass

    def _start_actor(self) -> None:
        handle = self.actor_class.remote(self.plan.options)
        self.starting[handle.ready.remote()] = handle

    def _await_ready(self, all_of_them: bool) -> bool:
        """Wait for the starting actors to load the model, at most `ready_timeout` seconds; True
        when some actor is live. `all_of_them`: wait for each (once one is live, for the others
        at most twice as long again as that took, or 30 s; they join when ready), and raise an
        ExecutorError if none can be started; else return once one is live."""
        began = time.monotonic()
        deadline = began + self.ready_timeout
        while self.starting and (all_of_them or not self.live):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _ = self.ray.wait(list(self.starting), num_returns=1, timeout=left)
            for ref in ready:
                first = not self.live
                self._started(ref)
                if first and self.live:
                    deadline = min(deadline, time.monotonic() + max(30.0, 2 * (time.monotonic() - began)))
        if not self.live and all_of_them:
            if self.last_loss is not None:
                raise ExecutorError(f"no transcription actor could be started on the Ray cluster (each needs "
                                    f"{self.plan.describe()}): {_one_line(self.last_loss)}")
            raise ExecutorError(f"no transcription actor could be placed on the Ray cluster within "
                                f"{self.ready_timeout:g} s (each needs {self.plan.describe()})")
        return bool(self.live)

    def _started(self, ref) -> None:
        handle = self.starting.pop(ref)
        try:
            error = self.ray.get(ref)
        except self.lost_errors as exc:
            self.startup_deaths += 1
            self.last_loss = exc
            self._replace()
            return
        if error is not None:
            raise error  # the model cannot be loaded: the batch stops, as with local workers
        self.startup_deaths = 0
        self.live.append(_Actor(handle))

    def _replace(self) -> bool:
        """Start an actor in place of a dead one when the cluster has room, unless actors keep
        dying before they load the model. True when one was started."""
        free = self.ray.available_resources()
        if (self.startup_deaths >= 2 or len(self.live) + len(self.starting) >= self.plan.actors
                or free.get("CPU", 0) < self.plan.num_cpus or free.get("GPU", 0) < self.plan.num_gpus):
            return False
        self._start_actor()
        return True

    def _fill(self) -> None:
        for depth in range(IN_FLIGHT_PER_ACTOR):  # round robin: a short batch is spread over all actors
            for actor in self.live:
                if self.waiting and len(actor.in_flight) <= depth:
                    index = self.waiting.popleft()
                    ref = actor.handle.transcribe.remote(self.jobs[index])
                    actor.in_flight.append(ref)
                    self.owner[ref] = (actor, index)

    def _collect(self, actor: _Actor) -> None:
        """Finish the actor's results that are in. If it died, hand its other files on: the
        first of them (an actor runs its calls in order) was being transcribed, which counts
        against that file."""
        refs = list(actor.in_flight)
        ready = set(self.ray.wait(refs, num_returns=len(refs), timeout=0)[0])
        lost = None
        for ref in refs:
            if ref not in ready:
                continue
            try:
                transcribed = self.ray.get(ref)
            except self.lost_errors as exc:
                lost = self.last_loss = exc
                break
            except self.rex.RayTaskError as exc:  # raised outside our code (e.g. unpicklable): the file's failure
                transcribed = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else exc
            actor.in_flight.remove(ref)
            _, index = self.owner.pop(ref)
            if isinstance(transcribed, ModelError):
                raise transcribed
            self.done(self.runner._finish(self.jobs[index], transcribed, self.run_id))
        if lost is None:
            return
        self.live.remove(actor)
        self._kill(actor.handle)
        held = [self.owner.pop(ref)[1] for ref in actor.in_flight]
        actor.in_flight.clear()
        requeue = [index for place, index in enumerate(held) if place > 0 or not self._died_on(index)]
        self.waiting.extendleft(reversed(requeue))
        self._replace()

    def _died_on(self, index: int) -> bool:
        """Count an actor's death against the file it was transcribing: True when that was the
        second time, and the file is then recorded as failed."""
        self.deaths[index] += 1
        if self.deaths[index] < 2:
            return False
        job = self.jobs[index]
        reason = (f"{job.path}: not transcribed: the Ray actor transcribing it died twice while "
                  "transcribing this file (its node lost, or the actor killed, for example for lack of "
                  "memory, or crashed)")
        self.done(self.runner.scoring.fail(job.record, reason, run_id=self.run_id))
        return True

    def _fail_remaining(self) -> None:
        """No actor is left and none can be started: every file not yet transcribed is failed."""
        cause = _one_line(self.last_loss) if self.last_loss else "no reason given"
        reason = ("not transcribed: no Ray transcription actor is left and none can be started "
                  f"({cause}); run the same command again to retry")
        while self.waiting:
            job = self.jobs[self.waiting.popleft()]
            self.done(self.runner.scoring.fail(job.record, f"{job.path}: {reason}", run_id=self.run_id))


def _one_line(exc: Exception) -> str:
    """The first line of a Ray error (its further lines are pages of advice), at most 200 characters."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "no detail")
    return f"{type(exc).__name__}: {first}"[:200]
