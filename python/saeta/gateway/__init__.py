"""The gateway: terminates the connectors' mTLS tunnels and the browsers' WebSockets."""
