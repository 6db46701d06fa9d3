"""The CLI loads only what its command uses: command modules by group, models by foreign key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).absolute().parent.parent

PROBE = r"""
import json, sys
sys.argv = ["regdesk", *json.loads(sys.argv[1])]
from app.cli import main
try:
    code = main()
except SystemExit as exc:
    code = exc.code
print("\n" + json.dumps({"code": code, "modules": sorted(m for m in sys.modules
      if m.split(".")[0] in ("app", "models", "services", "screens", "textual", "alembic", "sqlalchemy",
                                   "sqlmodel", "pydantic", "typer", "psycopg", "email_validator"))}))
"""


def _loaded(db_path: Path, *args: str) -> tuple[int, set[str]]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(["--db", str(db_path), "--as", "approver1", *args])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REGDESK_CONFIG": "/nonexistent"},
    )
    data = json.loads(r.stdout.strip().splitlines()[-1])
    return data["code"], set(data["modules"])


def test_every_command_group_is_registered_by_the_modules_the_map_names():
    """COMMAND_MODULES is complete: each command's function lives in a module listed for its group."""
    from app.cli import ALL_MODULES, COMMAND_MODULES, register
    from app.cli.root import app

    register(None)  # everything
    groups = {info.name: info.typer_instance for info in app.registered_groups}
    assert set(groups) <= set(COMMAND_MODULES), set(groups) - set(COMMAND_MODULES)

    def callbacks(typer_app):
        for command in typer_app.registered_commands:
            yield command.callback
        for sub in typer_app.registered_groups:
            yield from callbacks(sub.typer_instance)

    for name, sub in groups.items():
        for callback in callbacks(sub):
            module = callback.__module__.rsplit(".", 1)[-1]
            assert module in COMMAND_MODULES[name], (name, callback.__name__, module)
    for command in app.registered_commands:  # top-level commands (demo)
        name = command.name or command.callback.__name__
        assert callback_module(command) in COMMAND_MODULES[name]
    assert set(ALL_MODULES) == {m for mods in COMMAND_MODULES.values() for m in mods}


def callback_module(command) -> str:
    return command.callback.__module__.rsplit(".", 1)[-1]


@pytest.mark.parametrize("args", [("requests", "list"), ("requests", "show", "REG-000001"), ("customers", "list")])
def test_read_commands_load_only_their_own_modules(db_path, store, args):
    code, modules = _loaded(db_path, *args)
    assert code in (0, 4), (code, args)  # 4: no such request in the seeded copy
    assert not {"textual", "alembic", "screens"} & {m.split(".")[0] for m in modules}
    heavy = {
        "models.workflow",
        "models.cases",
        "models.prospects",
        "models.changes",
        "services.workflow",
        "services.cases",
        "services.prospects",
        "services.changes",
        "app.cli.cases_cmds",
        "app.cli.workflow_cmds",
        "app.cli.portal_cmds",
    }
    assert not heavy & modules, heavy & modules


LIGHT_READS = [
    ("requests", "list"),
    ("requests", "list", "--json", "--status", "Approved", "--sort", "company"),
    ("customers", "list"),
    ("customers", "list", "--json", "--limit", "5"),
    ("requests", "show", "REG-000001"),
    ("requests", "show", "--json", "reg-000001"),
]


@pytest.mark.parametrize("args", LIGHT_READS, ids=" ".join)
def test_plain_reads_load_no_orm_no_typer(db_path, store, args):
    """The light read path (app/cli/light.py): sqlite3 and rich only, no SQLAlchemy, pydantic,
    typer, models or services beyond the identity rules (under 2x ``import sqlalchemy``)."""
    from services import signup
    from services.permissions import PORTAL
    from tests.test_signup_services import GOOD

    assert store.call(signup.submit, PORTAL, dict(GOOD)).number == "REG-000001"
    code, modules = _loaded(db_path, *args)
    assert code == 0, (code, args)
    tops = {m.split(".")[0] for m in modules}
    assert (
        not {
            "sqlalchemy",
            "sqlmodel",
            "pydantic",
            "typer",
            "models",
            "textual",
            "alembic",
            "psycopg",
            "email_validator",
            "screens",
        }
        & tops
    ), tops
    assert {m for m in modules if m.startswith("services.") and not m.startswith("services.quick.")} <= {
        "services.quick",
        "services.identity",
        "services.permissions",
        "services.errors",
        "services.schema_heads",
        "services.text",
    }, modules
    assert "app.cli.root" not in modules and not any(m.endswith("_cmds") for m in modules)


def test_whole_metadata_still_has_every_table():
    import models

    tables = set(models.metadata.tables)
    assert {
        "signuprequest",
        "customer",
        "customercase",
        "prospect",
        "workflowinstance",
        "changeproposal",
        "statuscount",
        "auditevent",
    } <= tables


def test_help_without_a_command_lists_every_group(cli):
    r = cli("--help")
    assert r.code == 0
    for name in ("requests", "customers", "cases", "workflow", "user-requests", "changes", "db"):
        assert name in r.out


@pytest.mark.postgres
def test_postgres_light_start_runs_no_subprocess(pg_store, pg_database_url):
    """The console's fast start on PostgreSQL loads libpq by its soname (or psycopg's copy):
    ``ctypes.util.find_library`` imports subprocess and runs ldconfig, 50-60 ms of the start."""
    code = (
        "import json, sys\n"
        "from services.quick import light_start\n"
        f"view = light_start({pg_database_url!r}, 'approver1', limit=5)\n"
        "print(json.dumps([view is not None, sorted(m for m in ('ctypes.util', 'subprocess') if m in sys.modules)]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REGDESK_CONFIG": "/nonexistent"},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [True, []]


def test_the_console_reads_its_first_view_with_the_lists_page_size():
    """app.console reads the first view in a thread before the screens are imported, with its own
    copy of the page size: a different size would read the first view a second time."""
    from app.console import FIRST_PAGE
    from screens.registration import PAGE_SIZE

    assert FIRST_PAGE == PAGE_SIZE
