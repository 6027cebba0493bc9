"""What runs the gatekey bundle without AWS: DynamoDB Local, the API Gateway emulator, the CLI."""
