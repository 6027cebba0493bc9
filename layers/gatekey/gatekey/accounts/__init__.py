"""The services of accounts: users and their administration, login sessions, passwords,
resets, MFA, mail and the audit log."""
