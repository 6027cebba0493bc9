"""The `gatekey` admin command: accounts, users and their keys, against DynamoDB Local
(the local run) or, with `--aws`, the deployed table (docs/cli.md)."""
