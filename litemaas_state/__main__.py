"""`python -m litemaas_state` → the CLI."""

from litemaas_state.cli import main

main()
