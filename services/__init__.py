"""Domain services: headless (no textual/typer). Empty on purpose: the quick start imports
services.quick without loading the models package."""
