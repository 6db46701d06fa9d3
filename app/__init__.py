"""regdesk front ends (Textual console, typer CLI), settings and wiring."""
