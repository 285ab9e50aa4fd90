"""Generated protobuf code of Arrow Flight and Flight SQL (docs/flight.md); never edit by hand."""
