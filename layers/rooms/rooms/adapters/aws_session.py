"""One botocore session per thread, shared by every AWS client a function makes.

A client made from a new botocore session loads and parses its service's model files again, so it costs
about as much as the very first one; from a session that already made one it costs a few milliseconds.
pynamodb gives every Connection a session of its own, and every Model class its own Connection, so a
request touching four models paid for four DynamoDB clients from scratch. pynamodb has no option to pass
a session (pynamodb/PynamoDB#1245): `share_with_pynamodb` points the function it calls for one at this
module. Each client keeps its own configuration (retries, timeouts, pool); only the loaded models are shared
(and the credentials: no Connection here is given keys of its own, which pynamodb would set on the session).
Thread by thread, as pynamodb keeps them: botocore's client creation is not thread-safe.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import botocore.session

if TYPE_CHECKING:
    import boto3

_local = threading.local()


def botocore_session() -> botocore.session.Session:
    """This thread's botocore session."""
    found: botocore.session.Session | None = getattr(_local, "botocore", None)
    if found is None:
        found = _local.botocore = botocore.session.get_session()
    return found


def boto3_session() -> boto3.Session:
    """This thread's boto3 session, over the same botocore session (boto3 imported on first use)."""
    found: boto3.Session | None = getattr(_local, "boto3", None)
    if found is None:
        import boto3

        found = _local.boto3 = boto3.Session(botocore_session=botocore_session())
    return found


def client(service: str, **options: Any) -> Any:
    """A client of `service` from this thread's session (`boto3.client`'s arguments; boto3 makes the same
    botocore client, after importing itself and s3transfer)."""
    return botocore_session().create_client(service, **options)


def share_with_pynamodb() -> None:
    """Make every pynamodb Connection (and so every Model) take its thread's shared session."""
    import pynamodb.connection.base

    pynamodb.connection.base.get_session = botocore_session


def reset() -> None:
    """Forget this thread's sessions: the next client is made from a new one (tests that start moto
    need it, since moto hooks into the sessions made after it is imported)."""
    _local.__dict__.clear()
