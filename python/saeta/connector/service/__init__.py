"""`saeta connector service install|start|stop|remove`: the connector as a system service.
Linux: a systemd unit written from a template (systemd.py). Windows: a pywin32 service
(windows.py, imported only on Windows). Both run the same runner as `connector run`."""
