"""Verifies the connect's token against the issuer's JWKS, as a REQUEST authorizer does."""

import os

import jwt

_KEYS = jwt.PyJWKClient(os.environ["JWKS_URL"])


def _policy(principal, effect, resource, context=None):
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    return {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": context or {},
    }


def lambda_handler(event, context):
    token = event["queryStringParameters"]["token"]
    if token == "deny":
        return _policy("nobody", "Deny", event["methodArn"])
    try:
        key = _KEYS.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key.key, algorithms=["HS256"], issuer=os.environ["JWT_ISSUER"], audience=os.environ["JWT_AUDIENCE"]
        )
    except jwt.PyJWTError:
        raise Exception("Unauthorized") from None  # the one answer API Gateway turns into 401
    return _policy(claims["sub"], "Allow", event["methodArn"], {"user_id": claims["sub"], "admin": False})
