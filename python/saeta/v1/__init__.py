"""Generated protobuf/gRPC code for the tunnel; never edit by hand."""
