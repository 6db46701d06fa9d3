"""Requests per second of the sign-up endpoint under ``regdesk serve --workers 2`` (not a test).

    .venv/bin/python bench/web_load.py [--seconds 10] [--connections 16] [--stores sqlite,postgres]

For each store it makes a fresh seeded database (SQLite file; PostgreSQL database on
127.0.0.1:5432), starts ``regdesk serve --workers 2`` on loopback and drives
``POST /api/v1/signup`` with wrk (``apt-get install wrk``) and a Lua script that sends a
distinct e-mail and X-Forwarded-For per request (loopback is a trusted proxy by default), so
the attempt limits are checked on every request, as in production, without refusing the load.
Each accepted request is a full sign-up: validation, sequence number, request row, audit
event, outbox e-mail, limit counters; one write transaction each.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")

LUA = r"""
counter = 0
request = function()
  counter = counter + 1
  local id = string.format("%d-%d-%d", math.random(1, 1000000000), counter, os.time())
  local body = '{"company":"Load Test ' .. id .. '","first_name":"Lo","last_name":"Ad","email":"load' .. id ..
    '@example.com","user_name":"load' .. counter .. '","country":"US","city":"Oslo"}'
  local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format("POST", "/api/v1/signup", {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}, body)
end
"""


def seeded(url: str) -> None:
    from seed.demo import load_reference
    from services.store import Store

    store = Store(url, create=True)
    load_reference(store)
    store.dispose()


def pg_url() -> str | None:
    try:
        import psycopg

        base = os.environ.get("REGDESK_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")
        name = f"regdesk_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + "/" + name
        from services.schema import upgrade
        from services.store import make_engine

        engine = make_engine(url, create=True)
        upgrade(engine)
        engine.dispose()
        return url
    except Exception as exc:  # no server: skip that store
        print(f"postgres: skipped ({exc.__class__.__name__})")
        return None


def drop_pg(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(label: str, url: str, seconds: int, connections: int, port: int) -> None:
    import httpx

    env = {**os.environ, "REGDESK_DATABASE_URL": url}
    serve = subprocess.Popen(
        [str(ROOT / ".venv/bin/regdesk"), "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(LUA)
        # warm both workers' pools and caches
        subprocess.run(
            ["wrk", "-t2", "-c4", "-d2s", "-s", fh.name, f"http://127.0.0.1:{port}"], capture_output=True, text=True
        )
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
        ).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p50 = re.search(r"50%\s+(\S+)", out)
        p99 = re.search(r"99%\s+(\S+)", out)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        total = re.search(r"(\d+) requests in", out)
        statuses = f"{total.group(1) if total else '?'} requests, {bad.group(1) if bad else 0} not 201"
        print(
            f"{label:9} 2 workers, {connections} connections, {seconds} s: "
            f"{float(rps.group(1)) if rps else 0:.0f} sign-ups/s, p50 {p50.group(1) if p50 else '?'}, "
            f"p99 {p99.group(1) if p99 else '?'} ({statuses})"
        )
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    print(f"POST /api/v1/signup on loopback, wrk; cpus: {os.cpu_count()}")
    port = 18700
    for store in args.stores.split(","):
        if store == "sqlite":
            tmp = tempfile.mkdtemp()
            url = f"sqlite:///{tmp}/bench.db"
            seeded(url)
            run("SQLite", url, args.seconds, args.connections, port)
            shutil.rmtree(tmp, ignore_errors=True)
        elif store == "postgres":
            url = pg_url()
            if url:
                seeded(url)
                try:
                    run("PostgreSQL", url, args.seconds, args.connections, port + 1)
                finally:
                    drop_pg(url)


if __name__ == "__main__":
    main()
