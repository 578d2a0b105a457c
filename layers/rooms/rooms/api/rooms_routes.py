"""Routes under /rooms: create, read, join, leave, heartbeat, participants, kick, bans, moderators, close, family."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from rooms.api.deps import Groups, Media, Rooms, caller_id
from rooms.api.idempotency import IdempotencyKey, run_once, run_once_context
from rooms.api.paths import RoomId, UserId
from rooms.api.responses import answers, errors
from rooms.api.schemas import (
    BanLiftedOut,
    BanOut,
    BanRequest,
    CreateRoomRequest,
    FamilyOut,
    GroupSeatingOut,
    JoinOut,
    JoinRequest,
    KickOut,
    LeaveOut,
    ParticipantsOut,
    RoomOut,
    SeatOut,
    TicketOut,
)
from rooms.domain.model import Seat
from rooms.groups import GroupService
from rooms.media import MediaProvider
from rooms.service import utcnow

router = APIGatewayHttpRouter()
metrics = Metrics()


@router.post(
    "/rooms",
    summary="Create a main room; the caller is its host.",
    description="Send an `Idempotency-Key` header to make retries safe: the same key returns the same room.",
    tags=["rooms"],
    responses=answers(RoomOut, 400, 409, 415, status=201, description="The room, created (or the one this key made)."),
)
def create_room(
    request: CreateRoomRequest,
    service: Rooms,
    idempotency_key: IdempotencyKey = None,
) -> Response[RoomOut]:
    caller = caller_id(router)

    def create() -> RoomOut:
        room = service.create_room(
            caller,
            request.title,
            request.capacity,
            request.metadata,
            rebalance=request.rebalance,
            speaker_seats=request.speaker_seats,
        )
        metrics.add_metric(name="RoomsCreated", unit=MetricUnit.Count, value=1)
        return RoomOut.of(room)

    run_once_context(router.lambda_context)
    room = run_once(
        idempotency_key,
        operation="create_room",
        caller=caller,
        payload=request.model_dump(mode="json"),
        model=RoomOut,
        work=create,
    )
    return Response(status_code=201, content_type="application/json", body=room)


@router.get("/rooms/<room_id>", summary="Read a room.", tags=["rooms"], responses=answers(RoomOut, 404))
def get_room(room_id: RoomId, service: Rooms) -> RoomOut:
    caller_id(router)
    return RoomOut.of(service.get_room(room_id))


@router.post(
    "/rooms/<room_id>/join",
    summary="Take a seat, or a ticket for a parallel room when this one is full.",
    description="200 with the seat (also when the caller already holds one in the family); 202 with a "
    "ticket to follow at GET /tickets/{ticket_id} when the room is full. With a `group_id` (the caller leads "
    "the group): 200 with every member's seat in this room, or 202 with every member's ticket, queued together "
    "for one parallel room; all or none.",
    tags=["seats"],
    responses={
        200: {"description": "Seated.", "content": {"application/json": {"model": JoinOut}}},
        202: {"description": "Queued for a parallel room.", "content": {"application/json": {"model": JoinOut}}},
        **errors(400, 403, 404, 409, 415),
    },
)
def join_room(
    room_id: RoomId,
    service: Rooms,
    groups: Groups,
    media: Media,
    request: Annotated[JoinRequest | None, Body()] = None,
) -> Response[JoinOut]:
    if request is not None and request.group_id is not None:
        return _take_group_in(room_id, request.group_id, groups, media)
    promote = request.promote if request else False
    outcome = service.join(room_id, caller_id(router), promote=promote)
    if isinstance(outcome, Seat):
        metrics.add_metric(name="JoinsSeated", unit=MetricUnit.Count, value=1)
        seat = SeatOut.of(outcome, media.grant(outcome, utcnow()))
        return Response(200, "application/json", JoinOut(status="seated", seat=seat))
    metrics.add_metric(name="JoinsQueued", unit=MetricUnit.Count, value=1)
    ticket = TicketOut.of(outcome)
    return Response(
        202,
        "application/json",
        JoinOut(status="queued", ticket=ticket),
        headers={"Retry-After": str(ticket.retry_after_seconds), "Location": f"/tickets/{ticket.ticket_id}"},
    )


def _take_group_in(room_id: str, group_id: str, groups: GroupService, media: MediaProvider) -> Response[JoinOut]:
    caller = caller_id(router)
    seating = groups.take_in(room_id, group_id, caller)
    now = utcnow()
    seats = [SeatOut.of(seat, media.grant(seat, now) if seat.user_id == caller else None) for seat in seating.seats]
    tickets = [TicketOut.of(ticket) for ticket in seating.tickets]
    group = GroupSeatingOut(group_id=group_id, seats=seats, tickets=tickets)
    if seats:
        metrics.add_metric(name="GroupsSeated", unit=MetricUnit.Count, value=1)
        own = next((seat for seat in seats if seat.user_id == caller), seats[0])
        return Response(200, "application/json", JoinOut(status="seated", seat=own, group=group))
    metrics.add_metric(name="GroupsQueued", unit=MetricUnit.Count, value=1)
    ticket = next((ticket for ticket in tickets if ticket.user_id == caller), tickets[0])
    return Response(
        202,
        "application/json",
        JoinOut(status="queued", ticket=ticket, group=group),
        headers={"Retry-After": str(ticket.retry_after_seconds), "Location": f"/tickets/{ticket.ticket_id}"},
    )


@router.post(
    "/rooms/<room_id>/leave",
    summary="Free the caller's seat in the family.",
    tags=["seats"],
    responses=answers(LeaveOut, 404),
)
def leave_room(room_id: RoomId, service: Rooms) -> LeaveOut:
    result = service.leave(room_id, caller_id(router))
    return LeaveOut(left=result.left, room_id=result.room_id, ticket_cancelled=result.ticket_cancelled)


@router.post(
    "/rooms/<room_id>/heartbeat",
    summary="Keep the caller's seat alive.",
    tags=["seats"],
    responses=answers(SeatOut, 404, 409),
)
def heartbeat(room_id: RoomId, service: Rooms, media: Media) -> SeatOut:
    seat = service.heartbeat(room_id, caller_id(router))
    return SeatOut.of(seat, media.grant(seat, utcnow()))


@router.get(
    "/rooms/<room_id>/participants",
    summary="Participants of one room, oldest first.",
    tags=["seats"],
    responses=answers(ParticipantsOut, 400, 404),
)
def list_participants(
    room_id: RoomId,
    service: Rooms,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ParticipantsOut:
    caller_id(router)
    page = service.participants(room_id, limit, cursor)
    return ParticipantsOut(
        room_id=room_id, participants=[SeatOut.of(seat) for seat in page.items], next_cursor=page.next_cursor
    )


@router.delete(
    "/rooms/<room_id>/participants/<user_id>",
    summary="Remove a participant (the host or a moderator).",
    description="`user_id` is the participant's token subject, percent-encoded as one path segment. The host "
    "cannot be removed; a moderator only by the host.",
    tags=["seats"],
    responses=answers(KickOut, 403, 404),
)
def kick_participant(room_id: RoomId, user_id: UserId, service: Rooms) -> KickOut:
    kicked = service.kick(room_id, caller_id(router), user_id)
    return KickOut(kicked=kicked, user_id=user_id)


@router.post(
    "/rooms/<room_id>/bans",
    summary="Ban a user from the room's family (the host or a moderator), and free their seat.",
    description="Their joins answer 403 BANNED, and a ticket they hold fails with `banned`, until the ban ends "
    "(`duration_seconds`) or, without one, for the family's life. Banning again replaces the ban.",
    tags=["moderation"],
    responses=answers(BanOut, 403, 404, 415, status=201, description="The ban."),
)
def ban_user(room_id: RoomId, request: BanRequest, service: Rooms) -> Response[BanOut]:
    duration = timedelta(seconds=request.duration_seconds) if request.duration_seconds is not None else None
    ban = service.ban(room_id, caller_id(router), request.user_id, duration)
    metrics.add_metric(name="UsersBanned", unit=MetricUnit.Count, value=1)
    return Response(status_code=201, content_type="application/json", body=BanOut.of(ban))


@router.delete(
    "/rooms/<room_id>/bans/<user_id>",
    summary="Lift a ban (the host or a moderator).",
    tags=["moderation"],
    responses=answers(BanLiftedOut, 403, 404),
)
def lift_ban(room_id: RoomId, user_id: UserId, service: Rooms) -> BanLiftedOut:
    return BanLiftedOut(user_id=user_id, lifted=service.lift_ban(room_id, caller_id(router), user_id))


@router.put(
    "/rooms/<room_id>/moderators/<user_id>",
    summary="Name a moderator of the room's family (host only): they may kick and ban.",
    tags=["moderation"],
    responses=answers(RoomOut, 403, 404),
)
def name_moderator(room_id: RoomId, user_id: UserId, service: Rooms) -> RoomOut:
    return RoomOut.of(service.set_moderator(room_id, caller_id(router), user_id, named=True))


@router.delete(
    "/rooms/<room_id>/moderators/<user_id>",
    summary="Un-name a moderator (host only).",
    tags=["moderation"],
    responses=answers(RoomOut, 403, 404),
)
def unname_moderator(room_id: RoomId, user_id: UserId, service: Rooms) -> RoomOut:
    return RoomOut.of(service.set_moderator(room_id, caller_id(router), user_id, named=False))


@router.put(
    "/rooms/<room_id>/speakers/<user_id>",
    summary="Bring a user of the family up to speak (host only): their seat moves to a speaker seat.",
    description="The user must hold a seat in any room of the family; it moves to the main room's stage in one "
    "transaction (they are told `seat.moved`), where nothing moves it again. Again: the same seat.",
    tags=["moderation"],
    responses=answers(SeatOut, 403, 404, 409),
)
def bring_up(room_id: RoomId, user_id: UserId, service: Rooms) -> SeatOut:
    return SeatOut.of(service.bring_up(room_id, caller_id(router), user_id))


@router.delete(
    "/rooms/<room_id>/speakers/<user_id>",
    summary="Take a speaker off the stage (the host, or the speaker themself): the speaker seat is freed.",
    description="They join again to listen (`left: false` when they were not a speaker).",
    tags=["moderation"],
    responses=answers(LeaveOut, 403, 404),
)
def step_down(room_id: RoomId, user_id: UserId, service: Rooms) -> LeaveOut:
    result = service.step_down(room_id, caller_id(router), user_id)
    return LeaveOut(left=result.left, room_id=result.room_id, ticket_cancelled=result.ticket_cancelled)


@router.post(
    "/rooms/<room_id>/close",
    summary="Close a room; a main room closes its family.",
    tags=["rooms"],
    responses=answers(RoomOut, 403, 404),
)
def close_room(room_id: RoomId, service: Rooms) -> RoomOut:
    return RoomOut.of(service.close(room_id, caller_id(router)))


@router.get(
    "/rooms/<room_id>/family",
    summary="The main room and its parallel rooms.",
    tags=["rooms"],
    responses=answers(FamilyOut, 404),
)
def get_family(room_id: RoomId, service: Rooms) -> FamilyOut:
    caller_id(router)
    return FamilyOut.of(service.family(room_id))
