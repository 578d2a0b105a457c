"""Routes under /rooms/{room_id}/groups: friends to be seated together (rooms.groups). The leader takes a
group in with POST /rooms/{room_id}/join and its `group_id` (rooms_routes)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from rooms.api.deps import Groups, caller_id
from rooms.api.paths import GroupId, RoomId
from rooms.api.responses import answers
from rooms.api.schemas import GroupOut, JoinGroupRequest

router = APIGatewayHttpRouter()


@router.post(
    "/rooms/<room_id>/groups",
    summary="Make a group of friends to be seated together in the room's family; the caller leads it.",
    description="The answer carries the `invite_token` (only this once): friends join with it, then the leader "
    "takes the group in with POST /rooms/{room_id}/join and its `group_id`. A group holds up to `max_members` "
    "and lasts a day.",
    tags=["groups"],
    responses=answers(GroupOut, 403, 404, 409, status=201, description="The group of one, and its invite token."),
)
def create_group(room_id: RoomId, service: Groups) -> Response[GroupOut]:
    group, token = service.create(room_id, caller_id(router))
    return Response(status_code=201, content_type="application/json", body=GroupOut.of(group, token))


@router.post(
    "/rooms/<room_id>/groups/<group_id>/members",
    summary="Join a group with its invite token (the caller's own consent to be seated with it).",
    description="Joining again answers the group as it is.",
    tags=["groups"],
    responses=answers(GroupOut, 403, 404, 409, 415),
)
def join_group(room_id: RoomId, group_id: GroupId, request: JoinGroupRequest, service: Groups) -> GroupOut:
    return GroupOut.of(service.join(room_id, group_id, caller_id(router), request.invite_token))


@router.get(
    "/rooms/<room_id>/groups/<group_id>",
    summary="Read a group (its members only).",
    tags=["groups"],
    responses=answers(GroupOut, 403, 404),
)
def get_group(room_id: RoomId, group_id: GroupId, service: Groups) -> GroupOut:
    return GroupOut.of(service.get(room_id, group_id, caller_id(router)))
