"""A credential-free sandbox: GitHub and Slack doubles on loopback, for the demo and the tests."""
