"""Cairn: track ML runs as immutable events.

The training-side API (``cairn.init``, ``run.log`` ...) arrives with the SDK issue; this package
already owns the event contract types (``cairn.v1``) and the error hierarchy shared with services.
"""

from cairn.errors import CairnError, ErrorCode, ValidationError

__all__ = ["CairnError", "ErrorCode", "ValidationError"]
__version__ = "0.1.0"
