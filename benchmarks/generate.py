"""Benchmark of `stepinst steps generate` against the local fake OpenAI server (no network).

    PYTHONPATH=. python benchmarks/generate.py [--tasks 150] [--rpm 600] [--latency 0.2]

Prints three figures:
  rpm_ratio          achieved requests/min ÷ the server's RPM limit (target >= 0.9)
  token_ratio        estimated ÷ server-reported prompt tokens (target 0.98-1.02)
  repeated_requests  requests sent after a SIGKILL + resume for tasks that already had a record
                     (target 0); in-flight tasks (no record yet at the kill) are listed apart
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fake_openai import FakeOpenAI  # noqa: E402
from generation_helpers import write_natinst  # noqa: E402

from stepinst_data.stores.steps import read_steps_store  # noqa: E402


def command(server: FakeOpenAI, natinst: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "stepinst_data.cli", "steps", "generate", "--natinst", str(natinst),
            "--model", "gpt-4o-mini", "--steps", str(out), "--base-url", server.base_url, "--no-progress", *extra]


def rate_run(work: Path, env: dict, args: argparse.Namespace) -> dict:
    natinst = work / "ni-rate"
    write_natinst(natinst, args.tasks)
    with FakeOpenAI(latency=args.latency, rpm=args.rpm) as server:
        proc = subprocess.run(command(server, natinst, work / "rate.jsonl", "--rpm", str(args.rpm), "--concurrency", "32"),
                              env=env, capture_output=True, text=True, check=True)
        ok = [r.time for r in server.chat_requests()]
        rejected = sum(1 for r in server.requests if r.status == 429)
    report = json.loads(proc.stdout)
    achieved = (len(ok) - 1) / (max(ok) - min(ok)) * 60
    return {"requests": len(ok), "server_429": rejected, "achieved_rpm": round(achieved, 1),
            "rpm_ratio": round(achieved / args.rpm, 3),
            "token_ratio": round(report["estimated_prompt_tokens"] / report["prompt_tokens"], 4),
            "estimated_prompt_tokens": report["estimated_prompt_tokens"], "actual_prompt_tokens": report["prompt_tokens"]}


def kill_run(work: Path, env: dict, args: argparse.Namespace) -> dict:
    natinst, out = work / "ni-kill", work / "kill.jsonl"
    names = write_natinst(natinst, args.tasks)
    with FakeOpenAI(latency=args.latency) as server:
        cmd = command(server, natinst, out, "--concurrency", "8")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and (not out.exists() or out.read_text().count("\n") < args.tasks // 2):
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        recorded = set(read_steps_store(out))
        first = {names[r.definition] for r in server.chat_requests()}
        n = len(server.chat_requests())
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        second = [names[r.definition] for r in server.chat_requests()[n:]]
    return {"recorded_at_kill": len(recorded), "in_flight_at_kill": len(first - recorded),
            "resumed_requests": len(second), "repeated_requests": sum(1 for t in second if t in recorded),
            "complete_after_resume": len(read_steps_store(out)) == args.tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=150)
    parser.add_argument("--rpm", type=float, default=600)
    parser.add_argument("--latency", type=float, default=0.2, help="simulated seconds per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "OPENAI_API_KEY": "bench-key", "STEPINST_CACHE": str(work / "cache"),
               "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        start = time.time()
        figures = {**rate_run(work, env, args), **kill_run(work, env, args)}
        figures["wall_seconds"] = round(time.time() - start, 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
