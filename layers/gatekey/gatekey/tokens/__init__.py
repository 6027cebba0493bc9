"""What a credential is and how it is checked: key and session tokens, the keyring, and
`authorization`, the one place a token is verified."""
