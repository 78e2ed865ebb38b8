"""One turn's dossier lookup never waits for another turn's (the webhook runs turns on several
threads; functools.cached_property on Python 3.11 locks every instance together)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from bot.engine.types import Context, DossierFacts, DossierStatus


def context(find: object) -> Context:
    return Context(
        now=datetime(2026, 12, 1, tzinfo=UTC),
        questionnaires={},
        dossier_questionnaire="danh-gia-ho-so",
        general_questionnaire="sipas",
        new_key=lambda: "k",
        find_dossier=find,  # type: ignore[arg-type]
    )


def test_a_slow_lookup_does_not_hold_up_another_turns_lookup() -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow() -> DossierFacts:
        calls.append("slow")
        release.wait(5)
        return DossierFacts("HS-1", DossierStatus.OK)

    def fast() -> DossierFacts:
        calls.append("fast")
        return DossierFacts("HS-2", DossierStatus.OK)

    slow_ctx, fast_ctx = context(slow), context(fast)
    blocked = threading.Thread(target=lambda: slow_ctx.dossier_facts)
    blocked.start()
    while "slow" not in calls:
        threading.Event().wait(0.01)
    done = threading.Event()
    other = threading.Thread(target=lambda: (fast_ctx.dossier_facts, done.set()))
    other.start()
    assert done.wait(2), "the second turn's lookup waited for the first one's"
    release.set()
    blocked.join(5)
    other.join(5)
    # Each context looks its dossier up once, however often the turn reads it.
    assert fast_ctx.dossier_facts is fast_ctx.dossier_facts
    assert calls.count("fast") == 1 and calls.count("slow") == 1
