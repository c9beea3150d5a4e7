"""Where GitHub is called: the transport (client), the runner service and its data."""
