"""The command line: `python -m harness <command>` (cli.py) and one module per command."""
