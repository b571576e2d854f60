"""Cairn's one error hierarchy, as the SDK's public error module.

The hierarchy and its codes are part of the contract (``cairn_contract.errors``, shared with every
server part); these are the very same classes, so ``except cairn.errors.ValidationError`` catches
what the server's validation raises and what comes back over gRPC.
"""

from __future__ import annotations

from cairn_contract.errors import (
    AlreadyExistsError as AlreadyExistsError,
)
from cairn_contract.errors import (
    AuthenticationError as AuthenticationError,
)
from cairn_contract.errors import (
    CairnError as CairnError,
)
from cairn_contract.errors import (
    ConfigError as ConfigError,
)
from cairn_contract.errors import (
    ErrorCode as ErrorCode,
)
from cairn_contract.errors import (
    FailedPreconditionError as FailedPreconditionError,
)
from cairn_contract.errors import (
    LimitExceededError as LimitExceededError,
)
from cairn_contract.errors import (
    NotFoundError as NotFoundError,
)
from cairn_contract.errors import (
    PermissionDeniedError as PermissionDeniedError,
)
from cairn_contract.errors import (
    UnavailableError as UnavailableError,
)
from cairn_contract.errors import (
    ValidationError as ValidationError,
)
