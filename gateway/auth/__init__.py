"""Members sign in with their own keys (EIP-4361) and get short-lived bearer tokens."""
