"""The dashboard's access rules on their own: the role a guard asks for, and the login guard's memory."""

from __future__ import annotations

from datetime import datetime

import pytest

from broker.web.auth import LoginGuard, requires
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock


def test_a_guard_names_a_known_role_and_defaults_to_viewer():
    with pytest.raises(AssertionError):
        requires("admin")
    for role in ((), ("viewer",), ("operator",)):
        assert callable(requires(*role))


def test_the_login_guard_forgets_names_whose_failures_are_old_once_it_holds_many():
    """Names are typed by anyone: past 10 000 of them, the names without a recent failure go,
    and a name still within its window stays locked."""
    clock = SimClock(datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ))
    guard = LoginGuard(clock, limit=2, window=900)
    guard.failed("mallory")
    guard.failed("mallory")
    for i in range(10_000):
        guard.failed(f"guess-{i}")
    assert guard.locked("mallory")
    clock.advance(600)
    guard.failed("mallory")
    clock.advance(400)            # the guesses and mallory's first two failures are now old
    guard.failed("late")
    assert len(guard._failures) == 2, "only the names with a failure within the window are kept"
    assert not guard.locked("mallory") and not guard.locked("late")
    guard.failed("late")
    assert guard.locked("late")


def test_by_default_five_wrong_passwords_lock_a_name_for_fifteen_minutes():
    clock = SimClock(datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ))
    guard = LoginGuard(clock)
    for _ in range(4):
        guard.failed("alice")
    assert not guard.locked("alice")
    guard.failed("alice")
    assert guard.locked("alice") and not guard.locked("bob")
    clock.advance(899)
    assert guard.locked("alice")
    clock.advance(1)
    assert not guard.locked("alice")
    guard.succeeded("carol")                  # a first login, with no failure before it
    guard.failed("bob")
    guard.succeeded("bob")
    for _ in range(4):
        guard.failed("bob")
    assert not guard.locked("bob"), "a successful login forgets the earlier failures"


def test_by_default_ten_thousand_sessions_are_kept():
    from broker.web.auth import SessionBook
    from broker.web.users import User, Users, hash_password

    clock = SimClock(datetime(2024, 9, 3, 8, 0, tzinfo=CAMPAIGN_TZ))
    carol = User(name="carol", role="viewer", password=hash_password("mat-khau-1"))
    book = SessionBook(clock, lifetime_s=3600)
    clock.advance(7200)
    first, second = book.open(carol), book.open(carol)
    for _ in range(9_998):
        book.open(carol)
    assert len(book) == 10_000 and book.user(first, Users((carol,))) == carol
    book.open(carol)
    assert len(book) == 10_000 and book.user(first, Users((carol,))) is None, "the oldest goes first"
    assert book.user(second, Users((carol,))) == carol, "and only as many as needed"


def test_after_login_only_a_path_on_this_site_is_followed():
    from broker.web.auth import safe_next

    for target in ("/fleet", "/compliance?from=02/09/2024&to=06/09/2024", "/"):
        assert safe_next(target) == target
    for target in (None, "", "fleet", "https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil"):
        assert safe_next(target) == "/compliance", target
