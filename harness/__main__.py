"""`python -m harness ...`."""

from harness.commands.cli import run_cli

if __name__ == "__main__":
    run_cli()
