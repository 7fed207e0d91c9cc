"""The README's demo walkthrough, tried as a new user would: every command in it runs exactly as
written. The first (``scripts/start --demo``) is the session's demo city (tests/demo_harness.py);
the others run here in a shell from the repository root, against it (the environment moves the
data directory and ports off the defaults, so a developer's own instance is never touched)."""

from __future__ import annotations

import subprocess

from conftest import ROOT
from demo_harness import DemoCity, walkthrough_commands


def run(city: DemoCity, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=ROOT, env=city.env, capture_output=True, text=True, timeout=180)


def test_the_walkthrough_starts_with_scripts_start() -> None:
    commands = walkthrough_commands()
    assert commands[0] == "scripts/start --demo"
    assert len(commands) >= 5


def test_every_walkthrough_command_runs_as_written(demo_city: DemoCity) -> None:
    doc = demo_city.doc
    for command in walkthrough_commands()[1:]:
        done = run(demo_city, command)
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        out = done.stdout
        assert out.strip(), command
        if "demo show" in command and "client" not in command:
            assert doc["short_delivery_receipt_code"] in out and doc["gateway"] in out
        elif " trace " in command:
            assert doc["short_delivery_receipt_code"] in out
            assert "50 lost: 50 masks water-damaged" in out.replace("\n", " ")
            assert "proof(s) checked here" in out
        elif "credit show" in command:
            assert doc["uscc"][0] in out and "Supersede" in out and "in force" in out
        elif " fetch " in command:
            assert out.splitlines()[0] == "name,train,date,seat"
            plaintext = (demo_city.data_dir / "demo" / "travel-records.csv").read_text(encoding="utf-8")
            assert out == plaintext
            assert "decrypted and checked" in done.stderr
        elif "verify-proof" in command:
            assert "the bundle verifies" in out
        else:
            raise AssertionError(f"the test does not know what {command!r} should print; add a check")
