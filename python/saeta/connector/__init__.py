"""The connector: reads a site's data sources and answers the gateway over the tunnel."""
