"""The boot: for every open loop, observe, decide with the policy, record, then act.

The order of "write the event" and "do the I/O" is the point of this module and
is meant to be read top to bottom in ``BootService._run``:

1. ``Boot.Started`` is committed before any loop is examined.
2. Liveness and status GETs for all loops run concurrently (bounded); then every
   observation, classification and no-heartbeat outcome is committed at once.
3. Every heartbeat about to be posted is committed as begun, then the POSTs go.
4. The answers, the sealed fresh tokens and the outcomes are committed at once;
   only then are cleared loops' data keys destroyed.
5. ``Boot.Completed`` is committed; only then does the caller print the report.

Every one of these transactions carries its own signed chain head (the recorder's).

A boot killed at any instant leaves committed transactions only; the next boot
examines every loop that is still open afresh.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop, SealedToken
from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer
from recovery_ledger.domain.policies import (
    Decision,
    LoopFacts,
    Outcome,
    get_policy,
    may_retry_status,
)
from recovery_ledger.infra.boot.ports import (
    BootLedger,
    Clock,
    Cloud,
    LivenessProbe,
    PopKey,
    Sealer,
)
from recovery_ledger.infra.errors import TokenUnavailableError

_DEADLINE_PASSED = StatusAnswer(http_status=None, error="timeout")
_HEARTBEAT_DEADLINE_PASSED = HeartbeatAnswer(http_status=None, error="timeout")


@dataclass
class LoopRun:
    """One loop's passage through one boot. The plaintext token lives only here, and no
    ``repr`` shows it (nor the fresh token, nor the proof), so no log or traceback can."""

    loop: Loop
    token: str = field(repr=False)
    liveness: LivenessObservation | None = None
    answers: list[StatusAnswer] = field(default_factory=list)
    pop_available: bool = False
    pop_reason: str = ""
    decision: Decision | None = None
    heartbeat: HeartbeatAnswer | None = None
    fresh_token: str | None = field(default=None, repr=False)
    proof_jwt: str | None = field(default=None, repr=False)

    def facts(self) -> LoopFacts:
        assert self.liveness is not None and self.answers
        return LoopFacts(
            provenance=self.loop.provenance,
            runner_alive=self.liveness.alive,
            status=self.answers[-1],
            pop_available=self.pop_available,
            pop_reason=self.pop_reason,
        )


@dataclass(repr=False)
class BootResult:
    boot_id: UUID
    policy: str
    started_at: datetime
    finished_at: datetime
    runs: list[LoopRun]
    summary: dict[str, int]
    pop_key: PopKey
    cloud_url: str = ""

    def __repr__(self) -> str:
        # Short, because asyncio builds the repr of the boot's task, result included, when
        # it puts the SIGINT handler back: listing every run cost a 1,000-loop boot ~50 ms.
        runs = len(self.runs)
        return f"BootResult({self.boot_id}, {self.policy!r}, {runs} loops, {self.summary})"


@dataclass
class BootSettings:
    policy: str
    host_id: str
    host_name: str
    app_version: str
    cloud_url: str
    concurrency: int = 16
    # The network's share of the boot: every GET and POST not answered by then is cut off
    # and recorded as a timeout (heartbeats included), leaving the rest of the command's
    # --deadline to the commits.
    deadline_s: float = 20.0


class BootService:
    """One boot over the ports it is given; ``infra/bootstrap.py`` gives it the real ones."""

    def __init__(
        self,
        ledger: BootLedger,
        settings: BootSettings,
        *,
        sealer: Sealer,
        cloud: Cloud | None,
        probe: LivenessProbe,
        pop_key: PopKey,
        clock: Clock,
        progress: Callable[[int, int], None] | None = None,
        open_loops: list[Loop] | None = None,
    ) -> None:
        self.ledger = ledger
        self.sealer = sealer
        self.settings = settings
        self.policy = get_policy(settings.policy)
        self.cloud = cloud
        self.probe = probe
        self.pop_key = pop_key
        self.clock = clock
        self.progress = progress
        self._open_loops = open_loops
        self._deadline = 0.0

    async def run(self) -> BootResult:
        self._deadline = time.monotonic() + self.settings.deadline_s
        runs = self._prepare_runs()
        boot_id = uuid4()
        boot = Boot(
            boot_id=boot_id,
            policy=self.settings.policy,
            host_id=self.settings.host_id,
            host_name=self.settings.host_name,
            app_version=self.settings.app_version,
            cloud_url=self.settings.cloud_url,
            loop_ids=[run.loop.loop_id for run in runs],
            pop_key=self.pop_key.as_record(),
        )
        started_at = boot.created_on
        self._commit("started", boot)  # 1

        await self._observe_all(boot_id, runs)  # 2
        self._commit("decided", *(run.loop for run in runs))

        to_post = [run for run in runs if run.decision and run.decision.post_heartbeat]
        if to_post:
            for run in to_post:  # 3
                self._begin_heartbeat(boot_id, run)
            self._commit("begun", *(run.loop for run in to_post))
            await self._post_all(to_post)
            crash_point("posted")
            for run in to_post:  # 4
                self._record_heartbeat_and_conclude(boot_id, run)
            self._commit("concluded", *(run.loop for run in to_post))
        self._destroy_cleared_keys(runs)

        summary = summarize(runs)  # 5
        boot.complete(summary)
        self._commit("completed", boot)
        return BootResult(
            boot_id,
            self.settings.policy,
            started_at,
            self.clock.now(),
            runs,
            summary,
            self.pop_key,
            self.settings.cloud_url,
        )

    def _commit(self, point: str, *aggregates: Loop | Boot) -> None:
        self.ledger.save_boot_progress(*aggregates)
        crash_point(point)

    # -- preparing -----------------------------------------------------------------

    def _prepare_runs(self) -> list[LoopRun]:
        """Unseal every open loop's token up front: a damaged key directory stops
        the boot before it records anything, rather than half-way."""
        runs = []
        loops = self._open_loops
        if loops is None:  # only this host's: another machine's pids mean nothing here
            mine = self.settings.host_id
            loops = [loop for loop in self.ledger.open_loops() if loop.host_id == mine]
        for loop in loops:
            if loop.token is None:  # pragma: no cover - an open loop always holds one
                raise TokenUnavailableError(f"open loop {loop.loop_id!r} holds no token")
            try:
                token = self.sealer.unseal(loop.id, loop.token.jti, loop.token.sealed_token)
            except TokenUnavailableError as error:
                raise TokenUnavailableError(
                    f"cannot unseal the token of loop {loop.loop_id!r}: {error}"
                ) from None
            run = LoopRun(loop, token)
            if loop.provenance != "desktop_managed":
                run.pop_available, run.pop_reason = False, "user_created"
            else:
                run.pop_available = self.pop_key.signer is not None
                run.pop_reason = self.pop_key.reason
            runs.append(run)
        return runs

    # -- observing ---------------------------------------------------------------------

    async def _observe_all(self, boot_id: UUID, runs: list[LoopRun]) -> None:
        """Observe every loop and decide each one as soon as its answers are in: the
        deciding (in memory; nothing is recorded before the "decided" commit) overlaps the
        other loops' round trips instead of following the slowest one."""
        limit = asyncio.Semaphore(max(1, self.settings.concurrency))
        done = 0

        async def observe(run: LoopRun) -> None:
            nonlocal done
            async with limit:
                run.liveness = self.probe.probe(run.loop.pid, run.loop.pid_start_time)
                if self.cloud is not None:
                    run.answers.append(await self.cloud.get_status(run.loop.loop_id, run.token))
                    if may_retry_status(run.answers):
                        run.answers.append(await self.cloud.get_status(run.loop.loop_id, run.token))
            if run.answers:  # decided with the slot given back to the next loop's request
                self._record_observations_and_decide(boot_id, run)
            done += 1
            if self.progress is not None:
                self.progress(done, len(runs))

        await self._within_deadline([observe(run) for run in runs])
        for run in runs:
            if run.decision is not None:
                continue
            # A loop not answered by the deadline counts as transient (docs/contract.md section 4).
            if run.liveness is None:
                run.liveness = self.probe.probe(run.loop.pid, run.loop.pid_start_time)
            if not run.answers:
                run.answers.append(_DEADLINE_PASSED)
            self._record_observations_and_decide(boot_id, run)

    async def _within_deadline(self, coroutines: list[Coroutine[Any, Any, None]]) -> None:
        """Run them until the boot's deadline, then cancel what is left. Every task is
        awaited to its end whatever happens (a deadline, SIGINT/SIGTERM cancelling the boot),
        so none is left behind with an exception nobody retrieved."""
        if not coroutines:
            return
        tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        try:
            await asyncio.wait(tasks, timeout=max(0.0, self._deadline - time.monotonic()))
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome

    def _record_observations_and_decide(self, boot_id: UUID, run: LoopRun) -> None:
        loop = run.loop
        assert run.liveness is not None
        loop.observe_runner(boot_id, run.liveness)
        for attempt, answer in enumerate(run.answers, start=1):
            loop.observe_cloud(boot_id, attempt, answer)
        run.decision = self.policy(run.facts(), None)
        loop.classify(
            boot_id,
            self.settings.policy,
            run.decision.classification,
            pop_available=run.pop_available,
            pop_reason=run.pop_reason,
            post_heartbeat=run.decision.post_heartbeat,
        )
        if not run.decision.post_heartbeat:  # else the outcome waits for the answer
            assert run.decision.outcome is not None
            self._apply_outcome(boot_id, run, run.decision.outcome)

    # -- the PoP heartbeat ---------------------------------------------------------------

    def _begin_heartbeat(self, boot_id: UUID, run: LoopRun) -> None:
        assert self.cloud is not None and self.pop_key.signer is not None
        url = self.cloud.heartbeat_url(run.loop.loop_id)
        now = int(self.clock.now().timestamp())
        proof = self.pop_key.signer.sign_proof(url, run.token, now)
        run.proof_jwt = proof.jwt
        run.loop.begin_heartbeat(boot_id, proof.jti, url)

    async def _post_all(self, runs: list[LoopRun]) -> None:
        limit = asyncio.Semaphore(max(1, self.settings.concurrency))
        cloud = self.cloud
        assert cloud is not None

        async def post(run: LoopRun) -> None:
            assert run.proof_jwt is not None and run.loop.token is not None
            async with limit:
                result = await cloud.post_heartbeat(
                    run.loop.loop_id,
                    run.token,
                    run.loop.token.jti,
                    run.proof_jwt,
                    self.clock.now(),
                )
            run.heartbeat, run.fresh_token = result.answer, result.fresh_token

        await self._within_deadline([post(run) for run in runs])
        for run in runs:
            if run.heartbeat is None:  # cut off by the deadline: recorded so, never retried
                run.heartbeat = _HEARTBEAT_DEADLINE_PASSED

    def _record_heartbeat_and_conclude(self, boot_id: UUID, run: LoopRun) -> None:
        assert run.heartbeat is not None
        run.loop.record_heartbeat_answer(boot_id, run.heartbeat)
        run.decision = self.policy(run.facts(), run.heartbeat)
        assert run.decision.outcome is not None
        if run.decision.outcome.adopt_revived_token:
            self._adopt_fresh_token(boot_id, run)
        self._apply_outcome(boot_id, run, run.decision.outcome)

    def _adopt_fresh_token(self, boot_id: UUID, run: LoopRun) -> None:
        from recovery_ledger.domain.runner_token import parse_runner_token

        assert run.fresh_token is not None, "a revived answer always carries its token"
        info = parse_runner_token(run.fresh_token)
        sealed, key_id = self.sealer.seal(run.loop.id, info.jti, run.fresh_token)
        run.loop.revive_token(
            boot_id,
            SealedToken(info.jti, info.expires_at, info.fingerprint, sealed, key_id, "revived"),
        )

    # -- outcomes ---------------------------------------------------------------------

    def _apply_outcome(self, boot_id: UUID, run: LoopRun, outcome: Outcome) -> None:
        if outcome.reattach_mode is not None:
            run.loop.reattach(boot_id, outcome.reattach_mode)
            return
        assert outcome.finalize_reason is not None
        run.loop.finalize(
            outcome.finalize_reason,
            boot_id=boot_id,
            cloud_last_word=cloud_last_word(run),
            by="boot",
        )

    def _destroy_cleared_keys(self, runs: list[LoopRun]) -> None:
        for run in runs:
            if run.loop.token is None:
                self.sealer.shred(run.loop.id)


CRASH_AT_ENV = "RECOVERY_LEDGER_CRASH_AT"
CRASH_POINTS = ("started", "decided", "begun", "posted", "concluded", "completed")


def crash_point(point: str) -> None:
    """Fault injection for the crash campaign (``bench/crash_campaign.py``): with
    ``RECOVERY_LEDGER_CRASH_AT=<point>`` the process dies there as ``kill -9`` would, right
    after that transaction committed (``posted``: the POSTs answered, nothing recorded)."""
    if os.environ.get(CRASH_AT_ENV) == point:
        os._exit(137)


def cloud_last_word(run: LoopRun) -> str:
    """The cloud's last answer in this boot, in the form docs/events.md defines."""
    heartbeat = run.heartbeat
    if heartbeat is not None:
        if heartbeat.error is not None:
            return f"heartbeat:{heartbeat.error}"
        if heartbeat.http_status == 200:
            return "heartbeat:revived" if heartbeat.revived else "heartbeat:not_revived"
        return f"heartbeat:{heartbeat.http_status}"
    status = run.answers[-1]
    if status.error is not None:
        return f"status:{status.error}"
    if status.http_status == 200 and status.status is not None:
        return f"status:{status.status}"
    return f"status:{status.http_status}"


def summarize(runs: list[LoopRun]) -> dict[str, int]:
    outcomes = [run.decision.outcome for run in runs if run.decision and run.decision.outcome]
    return {
        "examined": len(runs),
        "reattached": sum(1 for o in outcomes if o.reattach_mode is not None),
        "revived": sum(1 for o in outcomes if o.reattach_mode == "revived"),
        "finalized": sum(1 for o in outcomes if o.finalized),
        "heartbeats_posted": sum(1 for run in runs if run.heartbeat is not None),
    }
