"""The table of expected data calls, without futures or sockets: a call is claimed once
and only by its tenant's connector; a DoGet for a call whose query ended before it came is
told so quietly (for its own tenant, once, and only so many); anything else is refused with
its status and log code, and another tenant's claim fails the query it aimed at."""

from __future__ import annotations

from saeta.core.call_table import ENDED_REMEMBERED, CallTable, Refused


def _refused(outcome: object) -> tuple[str, str | None]:
    assert isinstance(outcome, Refused), outcome
    return outcome.status, outcome.log_code


def test_a_call_is_claimed_once_by_its_tenant() -> None:
    table: CallTable[str] = CallTable()
    table.expect("a" * 32, "acme", "the query's call")
    assert table.claim("a" * 32, "acme") == "the query's call"
    assert _refused(table.claim("a" * 32, "acme")) == ("NOT_FOUND", "UNKNOWN_CALL")
    table.drop("a" * 32)  # claimed, then its query ended: nothing to remember
    assert _refused(table.claim("a" * 32, "acme")) == ("NOT_FOUND", "UNKNOWN_CALL")
    assert len(table) == 0


def test_another_tenants_claim_is_refused_and_names_the_query_to_fail() -> None:
    table: CallTable[str] = CallTable()
    table.expect("b" * 32, "acme", "acme's call")
    outcome = table.claim("b" * 32, "globex")
    assert isinstance(outcome, Refused)
    assert (outcome.status, outcome.log_code, outcome.victim) == (
        "PERMISSION_DENIED",
        "CALL_TENANT_MISMATCH",
        "acme's call",
    )
    assert _refused(table.claim("b" * 32, "acme")) == ("NOT_FOUND", "UNKNOWN_CALL")  # taken: gone for acme too


def test_late_calls_of_ended_queries_are_told_quietly_once_for_their_tenant_only() -> None:
    table: CallTable[str] = CallTable()
    table.expect("c" * 32, "acme", "x")
    table.drop("c" * 32)  # its query ended before the DoGet came
    assert _refused(table.claim("c" * 32, "globex")) == ("NOT_FOUND", "UNKNOWN_CALL")  # another tenant's guess
    assert _refused(table.claim("c" * 32, None)) == ("NOT_FOUND", "UNKNOWN_CALL")
    assert _refused(table.claim("c" * 32, "acme")) == ("NOT_FOUND", None)  # quiet
    assert _refused(table.claim("c" * 32, "acme")) == ("NOT_FOUND", "UNKNOWN_CALL")  # once
    assert _refused(table.claim(None, "acme")) == ("NOT_FOUND", "UNKNOWN_CALL")
    assert _refused(table.claim(12, "acme")) == ("NOT_FOUND", "UNKNOWN_CALL")


def test_only_so_many_ended_calls_are_remembered() -> None:
    table: CallTable[int] = CallTable()
    ids = [CallTable.new_id() for _ in range(ENDED_REMEMBERED + 10)]
    for i, call_id in enumerate(ids):
        table.expect(call_id, "acme", i)
        table.drop(call_id)
    assert _refused(table.claim(ids[0], "acme"))[1] == "UNKNOWN_CALL"  # the oldest are forgotten
    assert _refused(table.claim(ids[-1], "acme"))[1] is None
    assert len(set(ids)) == len(ids)
