"""Race test: 8 processes append at the same expected version, 200 rounds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from eventflux import open_store

CHILD = Path(__file__).with_name("_race_child.py")
PROCESSES = 8
ROUNDS = 200


def _ask(children: list[subprocess.Popen[str]], command: str) -> list[str]:
    for child in children:  # every child gets the command before any answers
        assert child.stdin is not None
        child.stdin.write(command + "\n")
        child.stdin.flush()
    answers = []
    for child in children:
        assert child.stdout is not None
        answers.append(child.stdout.readline().strip())
    return answers


@pytest.mark.slow
def test_processes_racing_for_one_version_have_exactly_one_winner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db?busy_timeout=30"
    asyncio.run(_create(url))
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        wins = [0] * PROCESSES
        for round_ in range(ROUNDS):
            versions = _ask(children, "read")
            assert versions == [str(round_)] * PROCESSES  # all race for the same version
            outcomes = _ask(children, "append")
            assert sorted(outcomes) == ["lost"] * (PROCESSES - 1) + ["won"], outcomes
            wins[outcomes.index("won")] += 1
        _ask(children, "quit")
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:  # a stuck child must not outlive the test
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
    assert [child.returncode for child in children] == [0] * PROCESSES
    assert sum(wins) == ROUNDS
    stored = asyncio.run(_versions(url))
    assert stored == list(range(1, ROUNDS + 1))


async def _create(url: str) -> None:
    async with await open_store(url):
        pass


async def _versions(url: str) -> list[int]:
    async with await open_store(url) as store:
        assert await store.stream_version("race") == ROUNDS
        return [e.version async for e in store.read("race")]
