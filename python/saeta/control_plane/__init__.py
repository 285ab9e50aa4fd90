"""The reference control plane: issues signed sessions, answers the gateway's lookups,
revokes. An existing control plane can stand in by serving docs/control-plane.md."""
