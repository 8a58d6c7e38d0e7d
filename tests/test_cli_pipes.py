"""A reader that stops reading (``routedesk history | head -1``) ends a command quietly,
as it ends any Unix tool: status 0 or 141, nothing on stderr, for every command's output.

The deterministic form hands the process a pipe whose reading end is already closed, so
its first write meets EPIPE however small the output; one test runs a real shell pipeline
with more output than a pipe holds."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from desktop.cli import CLOSED_PIPE_EXIT
from tests.test_cli import KEY, ROOT, env, name, rd, sim  # noqa: F401 (the CLI tests' fixtures)


def into_closed_pipe(env, *args: str) -> tuple[int, str]:
    """Run ``routedesk ARGS`` with stdout a pipe nobody reads any more."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([sys.executable, "-m", "desktop", *args], env=env, cwd=ROOT, stdout=w,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, timeout=60)
    finally:
        os.close(w)
    return proc.returncode, proc.stderr


COMMANDS = [
    ("history",), ("history", "--json"), ("providers", "list"), ("providers", "list", "--json"),
    ("models",), ("models", "--json"), ("spend",), ("spend", "--json"), ("route", "hello"),
    ("search", "hello"), ("probe", "--json"), ("ask", "hello there"), ("ask", "--json", "hello there"),
    ("pricing", "list"), ("clients", "list", "--json"),
]


def test_every_command_ends_quietly_when_its_reader_has_gone(env, name, sim):  # noqa: F811
    assert rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin",
              stdin=KEY + "\n").returncode == 0
    assert rd(env, "use", "--strong", f"{name}/gpt-4o", "--weak", "ollama/llama3.2:latest").returncode == 0
    assert rd(env, "ask", "hello there").returncode == 0  # something in the history
    for args in COMMANDS:
        code, err = into_closed_pipe(env, *args)
        assert code in (0, CLOSED_PIPE_EXIT), (args, code, err)
        assert not any(word in err for word in ("unexpected", "Traceback", "BrokenPipe", "Exception ignored")), \
            (args, err)
    # the answers asked into a closed pipe are stored like any other
    hist = json.loads(rd(env, "history", "--json").stdout)["conversations"]
    assert len(hist) == 3


@pytest.mark.skipif(shutil.which("head") is None or shutil.which("bash") is None, reason="needs bash and head")
def test_a_real_pipeline_into_head(env):
    """More output than a pipe holds, so the writer is still writing when head leaves."""
    lines = "".join(json.dumps({"prompt": f"question number {i} about foxes"}) + "\n" for i in range(3000))
    script = f'{shlex.quote(sys.executable)} -m desktop route --batch | head -1; echo "status ${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(["bash", "-c", script], input=lines, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.count("\n") == 1 and json.loads(proc.stdout)["score"] >= 0
    assert proc.stderr.strip() in (f"status {CLOSED_PIPE_EXIT}", "status 0"), proc.stderr
