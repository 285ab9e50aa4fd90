"""Sans-I/O core: pure functions and state, no asyncio, grpc, starlette, redis or sockets
(tests/core/test_no_io_imports.py enforces it). The I/O shells in connector/, gateway/
and control_plane/ are short loops around these."""
