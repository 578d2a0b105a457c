"""WebSocket authorizer: the REQUEST authorizer of `$connect` verifies the token in the query string
(browsers cannot set headers on a WebSocket) against the HTTP API's issuer and audience."""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.auth import TokenRejected, TokenVerifier, bearer, jwks_client
from rooms.config import settings

logger = Logger()


@cache
def verifier() -> TokenVerifier:
    """The instance's verifier: its key set is fetched on the first connect and then cached."""
    config = settings()
    return TokenVerifier(jwks_client(config.jwks_url), issuer=config.jwt_issuer, audience=config.jwt_audience)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        claims = verifier().verify(bearer((event.get("queryStringParameters") or {}).get("token")))
    except TokenRejected as error:
        logger.info("connect refused", extra={"reason": str(error)})
        raise Exception("Unauthorized") from None  # API Gateway's convention: the upgrade answers 401
    subject = claims["sub"]
    return {
        "principalId": subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "context": {"user_id": subject},
    }
