"""`python -m gatekey_cli`: the same as the `gatekey` command."""

from gatekey_cli.main import main

raise SystemExit(main())
