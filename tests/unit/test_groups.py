"""Friends together on fakes (rooms.groups, rooms.overflow_service): a group's members are seated in one
room, all of them or none, in the main room when it has the seats, else together in one parallel room."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms.domain.errors import Banned, GroupClosed, GroupMemberElsewhere, GroupNotFound, NotGroupMember
from rooms.domain.groups import GROUP_LIFETIME, MAX_GROUP_MEMBERS, Group
from rooms.domain.model import Ban, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.groups import GroupService
from rooms.ports import OverflowRequest
from tests.unit.fakes import Fakes, main_room

FAMILY = "r_main"


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=6, shards=2))
    return fakes


def group_of(service: GroupService, leader: str, *friends: str) -> tuple[Group, str]:
    """A group the leader made and each friend joined with its invite token; and the token."""
    group, token = service.create(FAMILY, leader)
    for friend in friends:
        group = service.join(FAMILY, group.group_id, friend, token)
    return group, token


def deliver(fakes: Fakes) -> None:
    """The overflow queue hands what was published to the worker, as one batch."""
    waiting, fakes.publisher.published = fakes.publisher.published, []
    fakes.overflow_service().seat_family(FAMILY, waiting)


def test_a_group_is_seated_in_the_main_room_together_when_it_has_the_seats(fakes: Fakes) -> None:
    service = fakes.group_service()
    group, token = group_of(service, "ana", "ben", "cy", "dee")
    assert group.members == ("ana", "ben", "cy", "dee")
    seating = service.take_in(FAMILY, group.group_id, "ana")
    assert {seat.user_id for seat in seating.seats} == set(group.members) and seating.tickets == []
    assert {seat.room_id for seat in seating.seats} == {FAMILY} and fakes.occupancy(FAMILY) == 4
    assert all(seat.group_id == group.group_id for seat in seating.seats)
    # AND the members (not the leader: the answer is theirs) are told their seat on their live connections
    told = fakes.notifier.of_type("group.seated")
    assert sorted(user for user, _ in told) == ["ben", "cy", "dee"]
    assert all(data["seat"]["user_id"] == user for user, data in told)
    # AND taking it in again answers the same seats; the group takes nobody more
    again = service.take_in(FAMILY, group.group_id, "ana")
    assert sorted(s.user_id for s in again.seats) == sorted(group.members) and fakes.occupancy(FAMILY) == 4
    with pytest.raises(GroupClosed):
        service.join(FAMILY, group.group_id, "eve", token)
    fakes.table.check()


def test_a_group_too_big_for_the_main_room_is_queued_together_and_seated_in_one_parallel_room(
    fakes: Fakes,
) -> None:
    # GIVEN a main room with 2 seats left, and a parallel room with 1 seat left
    for user in ("a", "b", "c", "d"):
        fakes.room_service().join(FAMILY, user)
    fakes.add_room(main_room(FAMILY, capacity=6, room_id=parallel_room_id(FAMILY, 1), index=1), seated=list("uvwxy"))
    service = fakes.group_service()
    group, _ = group_of(service, "ana", "ben", "cy")
    # WHEN the leader takes it in THEN nobody is seated: every member is queued with the group, one message
    seating = service.take_in(FAMILY, group.group_id, "ana")
    assert seating.seats == [] and fakes.occupancy(FAMILY) == 4
    assert [(t.user_id, t.status, t.group_id) for t in seating.tickets] == [
        (user, TicketStatus.QUEUED, group.group_id) for user in group.members
    ]
    assert [request.user_id for request in fakes.publisher.published] == ["ana"]
    again = service.take_in(FAMILY, group.group_id, "ana")  # a retry answers the tickets, sends nothing more
    assert [t.ticket_id for t in again.tickets] == [t.ticket_id for t in seating.tickets]
    assert len(fakes.publisher.published) == 1
    # WHEN the worker takes the message THEN the group sits in a new parallel room: p1 had one seat left
    deliver(fakes)
    rooms = {fakes.table.seats[(FAMILY, user)].room_id for user in group.members}
    assert rooms == {parallel_room_id(FAMILY, 2)} and fakes.occupancy(parallel_room_id(FAMILY, 1)) == 5
    for user in group.members:
        assert fakes.ticket(ticket_id_for(FAMILY, user)).status is TicketStatus.SEATED
    # AND each member is told on their live connection, with their own ticket
    told = {user: frame for user, frame in fakes.notifier.pushed}
    assert set(told) >= set(group.members)
    fakes.table.check()


def test_a_member_who_left_the_queue_is_left_out_and_the_rest_sit_together(fakes: Fakes) -> None:
    for user in ("a", "b", "c", "d", "e"):
        fakes.room_service().join(FAMILY, user)
    service = fakes.group_service()
    group, _ = group_of(service, "ana", "ben", "cy")
    service.take_in(FAMILY, group.group_id, "ana")
    fakes.room_service().leave(FAMILY, "ben")  # cancels his ticket
    deliver(fakes)
    seats = {user: fakes.table.seats.get((FAMILY, user)) for user in group.members}
    assert seats["ben"] is None and seats["ana"] is not None and seats["cy"] is not None
    assert seats["ana"].room_id == seats["cy"].room_id == parallel_room_id(FAMILY, 1)
    fakes.table.check()


def test_a_redelivered_or_republished_group_message_seats_nobody_twice(fakes: Fakes) -> None:
    for user in ("a", "b", "c", "d", "e", "f"):
        fakes.room_service().join(FAMILY, user)
    fakes.publisher.published.clear()
    service = fakes.group_service()
    group, _ = group_of(service, "ana", "ben")
    service.take_in(FAMILY, group.group_id, "ana")
    message = fakes.publisher.published[0]
    deliver(fakes)
    # the same message again, and a member's ticket republished on its own (the reconciler's way)
    republished = OverflowRequest(ticket_id_for(FAMILY, "ben"), FAMILY, "ben", None, group.group_id)
    result = fakes.overflow_service().seat_family(FAMILY, [message, republished])
    assert result.new_seats == 0 and set(result.seated) == {"ana", "ben"}
    assert fakes.occupancy(parallel_room_id(FAMILY, 1)) == 2
    fakes.table.check()


def test_only_the_token_opens_a_group_and_it_holds_at_most_its_members(fakes: Fakes) -> None:
    service = fakes.group_service()
    group, token = group_of(service, "ana")
    with pytest.raises(NotGroupMember):
        service.join(FAMILY, group.group_id, "eve", "not-the-token")
    for n in range(1, MAX_GROUP_MEMBERS):
        service.join(FAMILY, group.group_id, f"friend{n}", token)
    assert service.join(FAMILY, group.group_id, "friend1", token).members[1] == "friend1"  # again: as it is
    with pytest.raises(GroupClosed):
        service.join(FAMILY, group.group_id, "one-too-many", token)
    # only members read it, only its leader takes it in, and only in its own family
    with pytest.raises(NotGroupMember):
        service.get(FAMILY, group.group_id, "eve")
    assert service.get(FAMILY, group.group_id, "friend3").leader_id == "ana"
    with pytest.raises(NotGroupMember):
        service.take_in(FAMILY, group.group_id, "friend1")
    fakes.add_room(main_room("r_other", capacity=20))
    with pytest.raises(GroupNotFound):
        service.take_in("r_other", group.group_id, "ana")


def test_an_expired_group_is_gone(fakes: Fakes) -> None:
    service = fakes.group_service()
    group, _ = group_of(service, "ana")
    fakes.clock.advance(GROUP_LIFETIME + timedelta(seconds=1))
    with pytest.raises(GroupNotFound):
        service.take_in(FAMILY, group.group_id, "ana")


def test_a_group_with_a_banned_member_or_one_seated_apart_is_seated_nowhere(fakes: Fakes) -> None:
    service = fakes.group_service()
    group, _ = group_of(service, "ana", "ben", "cy")
    fakes.bans.put_ban(Ban(FAMILY, "cy", None, "host", fakes.clock()))
    with pytest.raises(Banned):
        service.take_in(FAMILY, group.group_id, "ana")
    fakes.bans.lift_ban(FAMILY, "cy")
    fakes.room_service().join(FAMILY, "ben")  # ben took a seat on his own
    with pytest.raises(GroupMemberElsewhere) as refused:
        service.take_in(FAMILY, group.group_id, "ana")
    assert refused.value.user_ids == ["ben"]
    assert fakes.occupancy(FAMILY) == 1 and fakes.publisher.published == []
    fakes.table.check()


def test_rebalancing_never_moves_a_groups_seat() -> None:
    from tests.unit.test_rebalance import family, rebalancer

    # GIVEN a rebalancing family whose thinnest room holds a group of two (seated together by the worker)
    fakes = family(6, 2)
    p2 = fakes.rooms.get_room(parallel_room_id(FAMILY, 2))
    requests = [OverflowRequest(ticket_id_for(FAMILY, u), FAMILY, u, None, "g_1") for u in ("ana", "ben")]
    now = fakes.clock()
    for request in requests:  # queued with the group, as a take-in queues them
        fakes.put_ticket(Ticket(request.ticket_id, FAMILY, request.user_id, TicketStatus.QUEUED, FAMILY, now, now))
    assert fakes.rooms.seat_batch(p2, requests, now, whole=True).seated
    fakes.clock.advance(timedelta(minutes=3))
    # WHEN it is rebalanced THEN p2's own listeners move to p1, the group stays where it sits together
    assert rebalancer(fakes).rebalance(fakes.rooms.get_room(FAMILY)) == 2
    assert {fakes.table.seats[(FAMILY, u)].room_id for u in ("ana", "ben")} == {parallel_room_id(FAMILY, 2)}
    assert fakes.occupancy(parallel_room_id(FAMILY, 1)) == 8
    fakes.table.check()
