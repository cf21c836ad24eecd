"""The reference offline client (see :mod:`sync.client.client`) and the ``recheck device`` command."""

from sync.client.client import DeviceClient, LoginRequired, PullSummary, PushSummary, VisitView
from sync.client.store import Store
from sync.client.transport import Backoff, Refused, Transport, Unreachable
from sync.client.upload import PhotoUploader, UploadSummary

__all__ = [
    "Backoff",
    "DeviceClient",
    "LoginRequired",
    "PhotoUploader",
    "PullSummary",
    "PushSummary",
    "Refused",
    "Store",
    "Transport",
    "Unreachable",
    "UploadSummary",
    "VisitView",
]
