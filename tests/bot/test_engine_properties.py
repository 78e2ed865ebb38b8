"""Property-based: any sequence of messages never crashes the engine or loses an answer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import CompleteResponse, RecordAnswer, StartResponse
from tests.bot.chat import Chat, dossier

WORDS = [
    "/start",
    "/start HS1",
    "/start HS2",
    "/start NOPE",
    "1",
    "2",
    "3",
    "4",
    "5",
    "0",
    "9",
    "1,3",
    "2 5",
    "1,2,3,4",
    "xong",
    "đồng ý",
    "không",
    "có",
    "rat hai long",
    "Hài lòng",
    "không hài lòng",
    "khong y kien",
    "bỏ qua",
    "quay lại",
    "dừng",
    "trợ giúp",
    "/xoa",
    "khảo sát",
    "",
    "   ",
    "🙂",
    "Chờ lâu quá",
    "x" * 5000,
]
TAPS = ["y", "n", "s", "h", "a:DG:hai_long", "a:TCDV1:5", "d:MONGDOI", "garbage:::", "a:X:Y"]

message = st.one_of(
    st.sampled_from(WORDS).map(lambda w: ("text", w)),
    st.text(max_size=30).map(lambda w: ("text", w)),
    st.sampled_from(TAPS).map(lambda p: ("tap", p)),
    st.integers(min_value=0, max_value=7).map(lambda i: ("button", i)),
)


def _value(effect: RecordAnswer) -> str:
    if effect.text is not None:
        return effect.text
    return (effect.choice or "").strip("|")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, max_size=60))
def test_random_conversations_never_crash_nor_lose_answers(
    steps: list[tuple[str, object]],
) -> None:
    chat = Chat(dossiers={"HS1": dossier("HS1"), "HS2": dossier("HS2", "danh-gia-ho-so")})
    started: set[str] = set()
    completed: set[str] = set()
    for kind, value in steps:
        if kind == "button":
            buttons = [b for r in chat.last for b in r.buttons]
            if not buttons:
                continue
            replies = chat.send(choice=buttons[int(value) % len(buttons)].payload)  # type: ignore[call-overload]
        elif kind == "tap":
            replies = chat.send(choice=str(value))
        else:
            replies = chat.send(str(value))
        assert replies, "every message gets an answer"
        turn_effects = chat.last_effects
        recorded = [e for e in turn_effects if isinstance(e, RecordAnswer)]
        # A message answers at most one question; other records are skips it caused.
        assert sum(e.status != "skipped" for e in recorded) <= 1
        for e in turn_effects:
            if isinstance(e, StartResponse):
                assert e.key not in started
                started.add(e.key)
            if isinstance(e, RecordAnswer):
                assert e.key in started and e.key not in completed
            if isinstance(e, CompleteResponse):
                completed.add(e.key)
        survey = chat.state.survey
        if survey is not None:
            # What storage holds for the open response is exactly what the engine remembers.
            stored = {
                q: _value(e) for q, e in chat.answers(survey.key).items() if e.status != "skipped"
            }
            assert stored == survey.answers
