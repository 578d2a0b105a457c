"""Bans and moderators on fakes (rooms.service, rooms.overflow_service): a ban races neither a join nor a
seating of the overflow worker into leaving a banned user seated, whichever write lands first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms.domain.errors import Banned, NotModerator, ProtectedUser
from rooms.domain.model import BANNED, Ban, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.ports import OverflowRequest
from tests.unit.fakes import Fakes, main_room

FAMILY = "r_main"


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=2))
    return fakes


def test_a_ban_written_while_a_join_is_admitted_frees_the_seat_and_refuses_the_join(fakes: Fakes) -> None:
    # the ban lands after the join's first look and before its admission: the look after it sees the ban
    service = fakes.room_service()
    ban = Ban(FAMILY, "mallory", None, "host", fakes.clock())
    fakes.table.before("admit", lambda: fakes.bans.put_ban(ban))
    with pytest.raises(Banned):
        service.join(FAMILY, "mallory")
    assert "mallory" not in fakes.seated() and fakes.occupancy(FAMILY) == 0
    fakes.table.check()


def test_a_ban_whose_seat_lookup_missed_a_worker_seating_still_frees_it(fakes: Fakes) -> None:
    # GIVEN mallory queued, and the worker seats her between the ban's seat lookup and its ticket's fail
    fakes.set_room(FAMILY, parallel_count=0)
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=parallel_room_id(FAMILY, 1), index=1))
    service = fakes.room_service()
    for user in ("a", "b"):
        service.join(FAMILY, user)
    assert isinstance(service.join(FAMILY, "mallory"), Ticket)
    # (the worker read no ban before the ban was written: its seating transaction lands now)
    request = OverflowRequest(ticket_id_for(FAMILY, "mallory"), FAMILY, "mallory")
    parallel = fakes.rooms.get_room(parallel_room_id(FAMILY, 1))
    fakes.table.before("fail_ticket", lambda: fakes.rooms.seat_batch(parallel, [request], fakes.clock()))
    # WHEN the host bans her THEN she holds no seat, whichever came first
    service.ban(FAMILY, "host", "mallory", None)
    assert "mallory" not in fakes.seated()
    assert fakes.ticket(ticket_id_for(FAMILY, "mallory")).status is TicketStatus.LEFT  # seated, then freed
    fakes.table.check()


def test_the_worker_fails_a_banned_users_ticket_instead_of_seating_it(fakes: Fakes) -> None:
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=parallel_room_id(FAMILY, 1), index=1))
    service = fakes.room_service()
    for user in ("a", "b"):
        service.join(FAMILY, user)
    service.join(FAMILY, "mallory")
    fakes.bans.put_ban(Ban(FAMILY, "mallory", None, "host", fakes.clock()))
    result = fakes.overflow_service().seat_family(
        FAMILY, [OverflowRequest(ticket_id_for(FAMILY, "mallory"), FAMILY, "mallory")]
    )
    assert result.seated == {} and list(result.failed.values()) == [BANNED]
    ticket = fakes.ticket(ticket_id_for(FAMILY, "mallory"))
    assert (ticket.status, ticket.reason) == (TicketStatus.FAILED, BANNED)
    assert fakes.notifier.of_type("ticket.failed")[0][1]["reason"] == BANNED


def test_a_ban_ends_with_its_duration(fakes: Fakes) -> None:
    service = fakes.room_service()
    service.ban(FAMILY, "host", "mallory", timedelta(minutes=5))
    with pytest.raises(Banned) as refused:
        service.join(FAMILY, "mallory")
    assert refused.value.until == fakes.clock() + timedelta(minutes=5)
    fakes.clock.advance(timedelta(minutes=5))
    assert service.join(FAMILY, "mallory").user_id == "mallory"


def test_who_may_kick_and_ban_whom(fakes: Fakes) -> None:
    service = fakes.room_service()
    service.set_moderator(FAMILY, "host", "carol", named=True)
    service.set_moderator(FAMILY, "host", "dave", named=True)
    assert fakes.rooms.get_room(FAMILY).moderators == ("carol", "dave")
    service.ban(FAMILY, "carol", "mallory", None)  # a moderator bans a listener
    with pytest.raises(ProtectedUser):
        service.ban(FAMILY, "carol", "dave", None)  # not another moderator
    with pytest.raises(ProtectedUser):
        service.kick(FAMILY, "carol", "host")  # nor the host
    service.ban(FAMILY, "host", "dave", None)  # the host may ban a moderator
    with pytest.raises(NotModerator):
        service.kick(FAMILY, "eve", "mallory")
