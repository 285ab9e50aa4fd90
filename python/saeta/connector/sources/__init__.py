"""Data sources. A source plans a query (schema + partitions) and reads one partition as
Arrow record batches; everything below it is pyarrow's C++ readers, no per-row Python."""

from saeta.connector.sources.base import Partition, QueryPlan, Source
from saeta.connector.sources.factory import open_source
from saeta.connector.sources.files import FileSource

__all__ = ["FileSource", "Partition", "QueryPlan", "Source", "open_source"]
