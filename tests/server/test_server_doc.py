"""Every ```sh block of docs/server.md runs, in order, against a real
``eventflux serve``; each ``# -> line`` under a command is a line its output
must hold (``…`` stands for any text), in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.server._proc import ServeProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"
_FENCE = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)


def sh_blocks() -> list[str]:
    return _FENCE.findall(DOC.read_text(encoding="utf-8"))


def expected_lines(block: str) -> list[str]:
    return [line[5:] for line in block.splitlines() if line.startswith("# -> ")]


def as_regex(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("…")))


def test_the_guide_has_its_blocks() -> None:
    blocks = sh_blocks()
    assert len(blocks) >= 8
    assert all(expected_lines(b) for b in blocks)


def test_every_curl_example_runs_against_a_real_server(tmp_path: Path) -> None:
    blocks = sh_blocks()
    with ServeProcess(tmp_path) as server:
        # the demos' first data, their checkout through the bus included, as a reader finds it
        deadline = time.monotonic() + 30
        while not httpx.get(server.url + "/api/all?types=shop.OrderConfirmed").json()["events"]:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        # each answer on lines of its own (curl adds no newline after a JSON body)
        script = [
            "set -euo pipefail",
            'curl() { command curl "$@"; local rc=$?; echo; return $rc; }',
        ]
        for i, block in enumerate(blocks):
            script.append(f"echo '@@block {i}'")
            script.append(block.replace("http://127.0.0.1:8000", server.url))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (result.stdout, result.stderr, server.output())
    outputs = result.stdout.split("@@block ")[1:]
    assert len(outputs) == len(blocks)
    for block, output in zip(blocks, outputs, strict=True):
        lines = output.splitlines()[1:]
        at = 0
        for expected in expected_lines(block):
            pattern = as_regex(expected)
            while at < len(lines) and not pattern.fullmatch(lines[at]):
                at += 1
            assert at < len(lines), f"no line matching {expected!r} in:\n{output}"
            at += 1
