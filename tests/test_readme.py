"""The README's demo examples, run as written against ``make demo``'s launcher (issue 12 item 6).

``python -m edge.runtime.demo`` starts the origin stub and an edge exactly as ``make
demo`` does, moved to free ports (``EDGE_DEMO_*``); every console block of the README
marked ``<!-- demo-example -->`` is then run in one bash session, command by command,
with the shell set up as the demo's banner says (``edge`` on PATH, ``EDGE_ADMIN_TOKEN``
exported). The only change to the commands is the demo's addresses (and ``--admin`` for
``edge`` commands that rely on the default one). Each output line the README shows must
appear, in order, in what the command printed (numbers may differ: ages, ttls), and each
command must exit 0.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.timeout(90)

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "<!-- demo-example -->"
DEMO = {"8080": "EDGE_DEMO_EDGE", "8081": "EDGE_DEMO_ORIGIN", "8090": "EDGE_DEMO_ADMIN"}


@dataclass
class Example:
    command: str  # as the README writes it (continuation lines joined)
    expected: list[str]  # the output lines the README shows
    line: int  # where it is in the README


def examples(text: str) -> list[Example]:
    """The commands of every marked console block, with the output shown after each."""
    out: list[Example] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != MARK:
            i += 1
            continue
        assert lines[i + 1].strip() == "```console", f"README:{i + 1}: a console block"
        i += 2
        current: Example | None = None
        while lines[i].strip() != "```":
            line = lines[i]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    i += 1
                    command = command[:-1] + lines[i].strip()
                current = Example(command, [], i + 1)
                out.append(current)
            elif line.startswith("#") or not line.strip():
                current = None  # a comment: the next output belongs to no command
            else:
                assert current is not None, f"README:{i + 1}: output without a command"
                current.expected.append(line)
            i += 1
    return out


def pattern(line: str) -> re.Pattern[str]:
    """An output line with its numbers free (ages, ttls, sizes change from run to run)."""
    assert "…" not in line, f"a placeholder in the README's output: {line!r}"
    parts = re.split(r"(-?\d+)", line)
    return re.compile(
        "".join(r"-?\d+" if re.fullmatch(r"-?\d+", p) else re.escape(p) for p in parts)
    )


def test_the_marked_blocks_are_found() -> None:
    found = examples(README.read_text(encoding="utf-8"))
    assert len(found) >= 20
    assert all("…" not in "".join(e.expected) for e in found)


def test_readme_demo_examples_run_as_written(tmp_path: Path) -> None:
    ports = {name: free_port() for name in DEMO}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("EDGE_ADMIN_TOKEN", None)  # the demo's own, as a new user has it
    for default, var in DEMO.items():
        env[var] = f"127.0.0.1:{ports[default]}"
    cache = tmp_path / "var" / "demo-cache"
    env["EDGE_DEMO_CACHE"] = str(cache)
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    demo = subprocess.Popen(
        [sys.executable, "-m", "edge.runtime.demo"], stdout=log, stderr=log, env=env, cwd=tmp_path
    )
    try:
        banner = _banner(tmp_path / "demo.log", demo)
        session = dict(env)
        for line in banner:  # what the banner tells the user to paste
            if line.startswith("export PATH="):
                session["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
            elif line.startswith("export EDGE_ADMIN_TOKEN="):
                session["EDGE_ADMIN_TOKEN"] = line.split("=", 1)[1]
        assert session.get("EDGE_ADMIN_TOKEN"), banner
        found = examples(README.read_text(encoding="utf-8"))
        results = _run(found, ports, session, tmp_path)
        for example, (rc, output) in zip(found, results, strict=True):
            where = f"README:{example.line}: {example.command}\n{output}"
            assert rc == 0, where
            at = 0
            got = output.splitlines()
            for expected in example.expected:
                want = pattern(expected)
                while at < len(got) and not want.fullmatch(got[at].rstrip()):
                    at += 1
                assert at < len(got), f"{where}\nmissing: {expected}"
                at += 1
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it
        assert demo.wait(timeout=30) == 0
        log.close()


def _banner(log: Path, demo: subprocess.Popen[bytes], within: float = 40.0) -> list[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "Ctrl-C stops both." in text:
            return [line.strip() for line in text.splitlines()]
        assert demo.poll() is None, text
        time.sleep(0.05)
    raise AssertionError(log.read_text(encoding="utf-8", errors="replace"))


def _localise(command: str, ports: dict[str, int]) -> str:
    for default, port in ports.items():
        command = command.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    if re.match(r"edge (purge|version-bump|warm)\b", command) and "--admin" not in command:
        command = command.replace("edge ", f"edge --admin http://127.0.0.1:{ports['8090']} ", 1)
    return command


def _run(
    found: list[Example], ports: dict[str, int], env: dict[str, str], cwd: Path
) -> list[tuple[int, str]]:
    """Every command in one bash session (variables carry over), each output apart."""
    marker = "@@README-EXAMPLE-END"
    script = "exec 2>&1\n" + "".join(
        f'{_localise(e.command, ports)}\necho; echo "{marker} $?"\n' for e in found
    )
    done = subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    chunks = re.split(rf"\n?{marker} (\d+)\n", done.stdout + "\n")
    outputs = [(int(chunks[i + 1]), chunks[i]) for i in range(0, len(chunks) - 1, 2)]
    assert len(outputs) == len(found), done.stdout + done.stderr
    return outputs


def test_every_link_points_inside_the_repository() -> None:
    """Relative links name files of the repository, anchors name headings of the README."""
    text = README.read_text(encoding="utf-8")
    headings = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if link.startswith(("http://", "https://")):
            continue
        path, _, anchor = link.partition("#")
        if path:
            assert (README.parent / path).exists(), link
        else:
            assert anchor in headings, link
