"""The service's HTTP side: request guards (ASGI middleware) and the endpoints ``app.py``
wires to its routes, each reading what it needs from ``request.app.state``."""
