"""The HTTP API: pydantic schemas, Powertools routers and the error mapping."""
