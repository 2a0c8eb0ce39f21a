"""An async client for the MIOeSIM partner API."""

from ._client import Client
from ._exceptions import (
    APIError,
    AuthenticationError,
    BatchError,
    DeadlineExceededError,
    InvalidICCIDError,
    InvalidRequestError,
    IPNotWhitelistedError,
    MioesimError,
    NotFoundError,
    OrderOutcomeUnknownError,
    OrderStateError,
    PermissionDeniedError,
    RateLimitedError,
    SignatureError,
    TransportError,
    UnexpectedResponseError,
)
from ._fanout import IccidStream
from ._models import (
    Balance,
    CardStatus,
    CardUsage,
    Network,
    Order,
    OrderCard,
    OrderStatus,
    Package,
    Sku,
    SkuPackages,
)
from ._observe import (
    ChunkEvent,
    ClientStats,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from ._results import BatchResult, ChunkResult
from ._retry import RetryPolicy, deadline
from ._signing import SignatureStyle
from ._version import __version__

__all__ = [
    "APIError",
    "AuthenticationError",
    "Balance",
    "BatchError",
    "BatchResult",
    "CardStatus",
    "CardUsage",
    "ChunkEvent",
    "ChunkResult",
    "Client",
    "ClientStats",
    "DeadlineExceededError",
    "Hooks",
    "IPNotWhitelistedError",
    "IccidStream",
    "InvalidICCIDError",
    "InvalidRequestError",
    "MioesimError",
    "Network",
    "NotFoundError",
    "Order",
    "OrderCard",
    "OrderOutcomeUnknownError",
    "OrderStateError",
    "OrderStatus",
    "Package",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "RetryPolicy",
    "SignatureError",
    "SignatureStyle",
    "Sku",
    "SkuPackages",
    "TransportError",
    "UnexpectedResponseError",
    "__version__",
    "deadline",
]
