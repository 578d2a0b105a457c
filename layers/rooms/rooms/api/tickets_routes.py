"""Routes under /tickets: follow an overflow ticket until it is seated or failed."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from rooms.api.deps import Rooms, caller_id
from rooms.api.responses import answers
from rooms.api.schemas import TicketOut

router = APIGatewayHttpRouter()


@router.get(
    "/tickets/<ticket_id>",
    summary="An overflow ticket: queued, seated or failed.",
    tags=["seats"],
    responses=answers(TicketOut, 404),
)
def get_ticket(ticket_id: Annotated[str, Path(min_length=1, max_length=64)], service: Rooms) -> TicketOut:
    return TicketOut.of(service.ticket(ticket_id, caller_id(router)))
