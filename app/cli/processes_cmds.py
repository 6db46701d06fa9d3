"""``regdesk processes [NAME] [--json] [--mermaid]``: every process's states and transitions,
printed from the tables the services move records by (services/transitions.py). DESIGN.md's
state diagrams are this command's ``--mermaid`` output (scripts/design-diagrams writes them)."""

from __future__ import annotations

from typing import Optional

import typer

from app.cli import output
from app.cli.root import JsonOption, app


@app.command("processes")
def processes(
    name: Optional[str] = typer.Argument(None, help="One process (signup, case, ...); all when omitted."),
    as_json: bool = JsonOption,
    mermaid: bool = typer.Option(False, "--mermaid", help="Mermaid state diagrams (what DESIGN.md shows)."),
) -> None:
    """The processes: each one's states and its transitions (action, from, to, who may)."""
    from services import transitions

    chosen = [transitions.get_process(name)] if name else transitions.processes()
    if as_json:
        return output.emit_json([transitions.as_dict(p) for p in chosen])
    if mermaid:
        output.out.print(transitions.mermaid_blocks(chosen), markup=False, highlight=False)
        return
    output.out.print("\n\n".join(transitions.as_text(p) for p in chosen), markup=False, highlight=False)
