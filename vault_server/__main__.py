"""``python -m vault_server`` runs the CLI."""

from vault_server.cli import main

main()
