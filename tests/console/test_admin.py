"""The console's admin pages through the real app: questionnaire upload (XLSForm and YAML),
preview through the engine, publish and the reword rule, staff (de)activation, units and
link codes, roles and CSRF; and `hailong staff remove --email` through the CLI."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.engine.core import _render
from bot.engine.state import SurveyProgress
from console.admin import RETRAINS, Retrain
from console.sessions import SESSION_COOKIE, Sessions
from hailong import nlp_db
from nlp.model import default_corpus_path, fit, load_corpus, save
from storage import admin as store_admin
from storage import complaints as store
from storage import console as store_console
from storage import routing_examples
from storage.db import session_scope
from storage.models import (
    AuditLog,
    QuestionnaireVersion,
    RoutingExample,
    Staff,
    StaffInvitation,
    table,
)
from storage.types import utcnow
from survey.xlsform import parse_upload
from tests.console.conftest import (
    PASSWORD,
    SECRET,
    add_login,
    app_client,
    csrf_for,
    csrf_of,
    login,
    seed,
    signed_in,
)
from tests.console.test_staff_cli import url_of
from tests.survey.test_xlsform import CHOICES, SETTINGS, SURVEY, xlsform
from tests.test_cli import hailong, one_line_error

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YAML_V1 = (
    "code: thu\nversion: '1'\ntitle: Thử\nquestions:\n"
    "  - {code: A, type: likert5, text: 'Cán bộ lịch sự.'}\n"
)


def admin(engine: Engine) -> TestClient:
    add_login(engine, "root@hailong.vn", unit=None, role="admin", name="Quản trị")
    return signed_in(engine, "root@hailong.vn")


def upload(client: TestClient, name: str, data: bytes, csrf: str | None = None) -> Any:
    token = csrf if csrf is not None else csrf_for(client, "/console/admin/questionnaires")
    return client.post(
        "/console/admin/questionnaires/upload",
        data={"csrf": token},
        files={"file": (name, data, XLSX if name.endswith("xlsx") else "text/yaml")},
    )


def csrf_token(client: TestClient) -> str:
    """The session's CSRF token, as the pages embed it (the analysts' dashboard has no form)."""
    sessions = Sessions(SECRET.encode(), 8)
    session = sessions.read(client.cookies.get(SESSION_COOKIE))
    assert session is not None
    return sessions.csrf(session)


def stored(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    versions = table(QuestionnaireVersion)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(versions.c.code, versions.c.version, versions.c.definition))
        return [(r[0], r[1], r[2]) for r in rows]


def audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(AuditLog.action)).scalars())  # type: ignore[call-overload]


def publish_from_preview(client: TestClient, page: str) -> Any:
    definition = html.unescape(page.split('name="definition" value="', 1)[1].split('"', 1)[0])
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/console/admin/questionnaires/publish", data={"csrf": token, "definition": definition}
    )


def test_an_xlsform_upload_previews_each_question_as_the_engine_shows_it(
    sqlite_db: Engine,
) -> None:
    client = admin(sqlite_db)
    data = xlsform()
    response = upload(client, "sipas-thu.xlsx", data)
    assert response.status_code == 200, response.text
    page = response.text
    q = parse_upload("sipas-thu.xlsx", data)
    for n, question in enumerate(q.questions):
        progress = SurveyProgress(
            key="k", questionnaire=q.code, version=q.version, current=question.code,
            history=[x.code for x in q.questions[:n]],
        )  # fmt: skip
        reply = _render(q, progress, question)
        assert html.escape(reply.text, quote=False) in page.replace("&#39;", "'")
        for button in reply.buttons:
            assert f"disabled>{html.escape(button.label)}</button>" in page
    # What a citizen reads, concretely: the numbered heading, the scale, the hint.
    assert "Câu 2" in page and "Thông tin thủ tục dễ tiếp cận." in page
    assert 'class="chat-button" disabled>5. Rất hài lòng</button>' in page
    assert "Chỉ hỏi khi câu HINHTHUC được trả lời: Trực tuyến" in page
    assert "Yếu tố: Tiếp cận dịch vụ" in page
    assert stored(sqlite_db) == []  # a preview stores nothing
    assert "admin.questionnaire_previewed" in audit_actions(sqlite_db)


def test_uploaded_text_is_escaped_in_the_preview(sqlite_db: Engine) -> None:
    client = admin(sqlite_db)
    survey = [*SURVEY[:2], ("text", "X", "<script>alert(1)</script>", None, None)]
    page = upload(client, "f.xlsx", xlsform(survey=survey)).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_a_bad_file_is_refused_with_a_clear_list_and_nothing_stored(sqlite_db: Engine) -> None:
    client = admin(sqlite_db)
    survey = [("type", "name", "label"), ("integer", "TUOI", "Tuổi?"), ("geopoint", "GPS", "Ở?")]
    response = upload(client, "f.xlsx", xlsform(survey=survey, choices=CHOICES, settings=SETTINGS))
    assert response.status_code == 400
    page = response.text
    assert page.count("<li>survey row") == 2 and "&#39;geopoint&#39; is not supported" in page
    not_yaml = upload(client, "f.yaml", b"\x89PNG\r\n\x1a\n\x00\x00")
    assert not_yaml.status_code == 400 and "not a text file" in not_yaml.text
    too_big = upload(client, "f.yaml", b"#" * (2 * 1024 * 1024))
    assert too_big.status_code == 413
    assert stored(sqlite_db) == []
    assert audit_actions(sqlite_db).count("admin.questionnaire_refused") == 2


def test_publish_stores_the_version_and_a_reword_needs_a_new_version(db: Engine) -> None:
    client = admin(db)
    preview = upload(client, "thu.yaml", YAML_V1.encode())
    published = publish_from_preview(client, preview.text)
    assert published.status_code == 303
    listing = client.get(published.headers["location"])
    cells = re.sub(r' data-label="[^"]*"', "", listing.text)
    assert "Đã xuất bản thu phiên bản 1." in listing.text
    assert "<td>thu</td><td>1</td><td>Thử</td><td>0</td>" in cells
    rows = stored(db)
    assert [(c, v) for c, v, _ in rows] == [("thu", "1")]
    # The same version reworded: refused, the stored wording kept.
    reworded = YAML_V1.replace("Cán bộ lịch sự.", "Cán bộ thân thiện.")
    preview = upload(client, "thu.yaml", reworded.encode())
    refused = publish_from_preview(client, preview.text)
    assert refused.status_code == 409
    assert "phiên bản 1 đã lưu có câu hỏi khác nội dung (A)" in refused.text
    assert stored(db)[0][2]["questions"][0]["text"] == "Cán bộ lịch sự."
    # With a new version it is published beside the first.
    preview = upload(client, "thu.yaml", reworded.replace("'1'", "'2'").encode())
    assert publish_from_preview(client, preview.text).status_code == 303
    assert sorted((c, v) for c, v, _ in stored(db)) == [("thu", "1"), ("thu", "2")]
    # The listing marks what citizens are asked now: the newest stored version, by the bot's
    # own rule (storage.catalogue.asked_questionnaires).
    cells = re.sub(r' data-label="[^"]*"', "", client.get("/console/admin/questionnaires").text)
    asked = '<td class="asked">✓ đang hỏi người dân</td>'
    assert re.search(r"<td>thu</td><td>2</td>.*?" + asked, cells)
    assert not re.search(
        r"<td>thu</td><td>1</td><td>[^<]*</td><td>\d+</td><td>[^<]*</td>" + asked, cells
    )
    actions = audit_actions(db)
    assert actions.count("admin.questionnaire_published") == 2
    assert actions.count("admin.questionnaire_refused") == 1


def test_a_tampered_definition_is_validated_again_on_publish(sqlite_db: Engine) -> None:
    client = admin(sqlite_db)
    token = csrf_for(client, "/console/admin/questionnaires")
    bad = client.post(
        "/console/admin/questionnaires/publish",
        data={"csrf": token, "definition": '{"code": "x", "version": "1", "questions": []}'},
    )
    assert bad.status_code == 400 and "questions" in bad.text
    assert stored(sqlite_db) == []


def test_other_roles_get_403_and_a_post_without_the_token_is_refused(sqlite_db: Engine) -> None:
    for n, role in enumerate(("staff", "lead", "analyst")):
        email = f"{role}@hailong.vn"
        add_login(sqlite_db, email, unit="SXD" if role != "analyst" else None, role=role)
        client = signed_in(sqlite_db, email)
        for path in ("/console/admin", "/console/admin/questionnaires", "/console/admin/staff",
                     "/console/admin/units", "/console/admin/model"):  # fmt: skip
            assert client.get(path).status_code == 403, (role, path)
        token = csrf_token(client)  # a valid token of their own session: the role decides
        assert upload(client, "q.yaml", YAML_V1.encode(), token).status_code == 403
        assert (
            client.post(
                f"/console/admin/staff/{n + 1}/active", data={"csrf": token, "active": "0"}
            ).status_code
            == 403
        )
    client = admin(sqlite_db)
    no_token = upload(client, "q.yaml", YAML_V1.encode(), csrf="")
    assert no_token.status_code == 403
    assert "console.csrf_refused" in audit_actions(sqlite_db)
    assert stored(sqlite_db) == []
    with Session(sqlite_db) as session:
        assert all(s.active for s in session.exec(sa.select(Staff)).scalars())  # type: ignore[call-overload]


def test_deactivating_staff_ends_their_session_and_reactivating_restores_login(
    sqlite_db: Engine,
) -> None:
    victim = add_login(sqlite_db, "an@sxd.gov.vn", telegram_id=7001, name="Nguyễn <An>")
    theirs = signed_in(sqlite_db, "an@sxd.gov.vn")
    assert theirs.get("/console").status_code == 200
    client = admin(sqlite_db)
    listing = client.get("/console/admin/staff").text
    assert "Nguyễn &lt;An&gt;" in listing and "an@sxd.gov.vn" in listing
    token = csrf_for(client, "/console/admin/staff")
    off = client.post(f"/console/admin/staff/{victim}/active", data={"csrf": token, "active": "0"})
    assert off.status_code == 200 and "Đã ngừng tài khoản" in off.text
    assert theirs.get("/console").status_code == 303  # signed out at once
    # The admin cannot switch themself off (nobody would be left to switch them on).
    with Session(sqlite_db) as session:
        admin_id = store_console.staff_by_email(session, "root@hailong.vn").id  # type: ignore[union-attr]
    self_off = client.post(
        f"/console/admin/staff/{admin_id}/active", data={"csrf": token, "active": "0"}
    )
    assert self_off.status_code == 409
    on = client.post(f"/console/admin/staff/{victim}/active", data={"csrf": token, "active": "1"})
    assert on.status_code == 200 and "hoạt động lại" in on.text
    assert signed_in(sqlite_db, "an@sxd.gov.vn").get("/console").status_code == 200
    actions = audit_actions(sqlite_db)
    assert "staff.remove" in actions and "staff.reactivate" in actions


def test_units_list_their_wards_and_give_a_link_code_the_bot_accepts(sqlite_db: Engine) -> None:
    client = admin(sqlite_db)
    page = re.sub(r' data-label="[^"]*"', "", client.get("/console/admin/units").text)
    assert "<td>SXD</td>" in page and "p-ben-thanh" not in page  # wards counted, not listed
    ubnd = page.split("<td>UBND_XA</td>", 1)[1].split("</tr>", 1)[0]
    wards = int(ubnd.split("<td>")[3].split("</td>")[0])
    assert wards > 100
    token = csrf_for(client, "/console/admin/units")
    shown = client.post("/console/admin/units/SXD/link-code", data={"csrf": token}).text
    code = shown.split("/lienket ", 1)[1].split("»", 1)[0]
    with session_scope(sqlite_db) as session:
        unit = store.use_link_code(session, code, -1001, "Nhóm SXD", 42, utcnow())
        assert unit is not None and unit.code == "SXD"
    assert "group.link_code" in audit_actions(sqlite_db)
    unknown = client.post("/console/admin/units/KHONG_CO/link-code", data={"csrf": token})
    assert unknown.status_code == 404 and "Không tìm thấy (" in unknown.text


def test_staff_remove_by_email_through_the_cli(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "binh@sxd.gov.vn")  # no Telegram id: e-mail only
    client = signed_in(sqlite_db, "binh@sxd.gov.vn")
    db = url_of(sqlite_db)
    removed = hailong("staff", "remove", "--email", " Binh@SXD.gov.vn", db=db)
    assert removed.returncode == 0, removed.stderr
    assert "binh@sxd.gov.vn deactivated" in removed.stdout
    assert client.get("/console").status_code == 303
    one_line_error(hailong("staff", "remove", "--email", "ai@x.vn", db=db), "no staff member")
    one_line_error(hailong("staff", "remove", db=db), "exactly one of")
    assert "staff.remove" in audit_actions(sqlite_db)


def test_the_model_page_shows_the_card_and_the_live_accuracy_of_the_cli(
    sqlite_db: Engine, tmp_path: Path
) -> None:
    card = {
        "created_at": "2026-11-30T08:00:00+00:00",
        "data": {"source": "seed.csv", "n": 1234},
        "labels": ["SXD", "SNNMT", "UBND_XA"],
        "metrics": {
            "split": "stratified hold-out 20%, seed 0",
            "accuracy": 0.8765,
            "macro_f1": 0.81,
        },
    }
    (tmp_path / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    # Four handled complaints: right, wrong, a ward under UBND_XA predicted as UBND_XA (right:
    # a ward counts as its parent), and one without a prediction (not scored).
    outcomes = [("SXD", "SXD"), ("SXD", "SNNMT"), ("UBND_XA", "p-ben-thanh"), (None, "SXD")]
    with session_scope(sqlite_db) as session:
        for n, (predicted, final) in enumerate(outcomes):
            complaint = seed(sqlite_db, chat=str(9000 + n))
            session.add(
                RoutingExample(
                    complaint_id=complaint.id, masked_text=f"phản ánh {n}",
                    predicted_unit=predicted, final_unit=final, reason="answered",
                )
            )  # fmt: skip
    add_login(sqlite_db, "root@hailong.vn", unit=None, role="admin")
    client = signed_in(sqlite_db, "root@hailong.vn", nlp_model_dir=tmp_path)
    page = client.get("/console/admin/model")
    assert page.status_code == 200
    assert "2026-11-30T08:00:00+00:00" in page.text and "1234" in page.text
    card_html = page.text.split("model-card", 1)[-1].split("</dl>", 1)[0]
    assert "87.6%" in card_html and "0.810" in card_html, card_html
    cli = nlp_db.live_accuracy(
        routing_examples.final_examples(sqlite_db), dict(routing_examples.unit_parents(sqlite_db))
    )
    assert (cli["n"], cli["correct"], cli["unpredicted"]) == (3, 2, 1)
    assert f"{cli['correct']}/{cli['n']} phản ánh đúng (66.7%)" in page.text
    assert "1 phản ánh không có đơn vị dự đoán" in page.text


def test_the_model_page_says_when_there_is_no_model(sqlite_db: Engine, tmp_path: Path) -> None:
    add_login(sqlite_db, "root@hailong.vn", unit=None, role="admin")
    client = signed_in(sqlite_db, "root@hailong.vn", nlp_model_dir=tmp_path)
    page = client.get("/console/admin/model").text
    assert "Chưa có mô hình" in page and "Chưa có phản ánh nào đã xử lý" in page


def small_model(directory: Path) -> Path:
    """A model trained on 20 seed messages per unit (well under a second)."""
    texts, labels = load_corpus(default_corpus_path())
    seen: Counter[str] = Counter()
    keep = []
    for text, label in zip(texts, labels, strict=True):
        if seen[label] < 20:
            seen[label] += 1
            keep.append((text, label))
    kept = ([x for x, _ in keep], [y for _, y in keep])
    save(fit(*kept), directory, training_data=kept)
    return directory


def test_retrain_runs_the_clis_rule_in_the_background_and_shows_its_result(
    sqlite_db: Engine, tmp_path: Path
) -> None:
    model_dir = small_model(tmp_path / "model")
    with session_scope(sqlite_db) as session:
        for i in range(12):
            complaint = seed(sqlite_db, "SCT", chat=str(9100 + i))
            session.add(
                RoutingExample(
                    complaint_id=complaint.id,
                    masked_text=f"quầy vé số {i} trước cổng chợ bị nhóm bảo kê thu tiền",
                    predicted_unit="SCT", final_unit="CATP", reason="answered",
                )
            )  # fmt: skip
    add_login(sqlite_db, "root@hailong.vn", unit=None, role="admin")
    client = signed_in(sqlite_db, "root@hailong.vn", nlp_model_dir=model_dir)
    before = (model_dir / "model.skops").read_bytes()
    token = csrf_for(client, "/console/admin/model")
    started = client.post("/console/admin/model/retrain", data={"csrf": token})
    assert started.status_code == 200 and "Đã bắt đầu huấn luyện lại" in started.text
    thread = RETRAINS.threads[model_dir]
    thread.join(timeout=180)
    assert not thread.is_alive()
    run = RETRAINS.get(model_dir)
    assert run is not None and run.error == "" and run.report is not None, run
    assert run.report["from_db"]["n_used"] == 12
    page = client.get("/console/admin/model").text
    replaced = (model_dir / "model.skops").read_bytes() != before
    assert replaced == run.report["replaced"]
    old, new = run.report["old_macro_f1"], run.report["new_macro_f1"]
    expected = "đã thay mô hình" if replaced else "giữ mô hình cũ"
    assert expected in page and f"{old:.3f}" in page and f"{new:.3f}" in page
    actions = audit_actions(sqlite_db)
    assert "admin.model_retrain" in actions and "admin.model_retrained" in actions


def test_a_second_retrain_waits_for_the_running_one(sqlite_db: Engine, tmp_path: Path) -> None:
    add_login(sqlite_db, "root@hailong.vn", unit=None, role="admin")
    client = signed_in(sqlite_db, "root@hailong.vn", nlp_model_dir=tmp_path)
    RETRAINS._runs[tmp_path] = Retrain(started_at=utcnow(), by="staff:0")  # still running
    token = csrf_for(client, "/console/admin/model")
    busy = client.post("/console/admin/model/retrain", data={"csrf": token})
    assert "Đang huấn luyện lại, vui lòng đợi" in busy.text
    assert tmp_path not in RETRAINS.threads
    assert "admin.model_retrain" not in audit_actions(sqlite_db)


def test_an_invitation_link_sets_a_password_once(db: Engine) -> None:
    client = admin(db)
    token = csrf_for(client, "/console/admin/staff")
    form = {"csrf": token, "name": "Lê Văn Cường", "email": "Cuong@SXD.gov.vn", "role": "staff"}
    no_unit = client.post("/console/admin/staff/invite", data=form)
    assert no_unit.status_code == 400 and "cần một mã đơn vị" in no_unit.text
    made = client.post("/console/admin/staff/invite", data={**form, "unit": "sxd"})
    assert made.status_code == 200 and "cuong@sxd.gov.vn" in made.text
    link = made.text.split('<code class="ref">', 1)[1].split("</code>", 1)[0]
    path = link[link.index("/console/invite/") :]
    with Session(db) as session:
        account = store_console.staff_by_email(session, "cuong@sxd.gov.vn")
        assert account is not None and account.password_hash is None
        invitations = session.exec(sa.select(StaffInvitation)).scalars().all()  # type: ignore[call-overload]
        assert len(invitations) == 1 and path.rsplit("/", 1)[1] not in invitations[0].token_hash
    invitee = app_client(db)
    page = invitee.get(path)
    assert page.status_code == 200 and "cuong@sxd.gov.vn" in page.text
    short = invitee.post(
        path, data={"csrf": csrf_of(page.text), "password": "ngắn", "again": "ngắn"}
    )
    assert short.status_code == 400 and "ít nhất 12 ký tự" in short.text
    mismatch = {"csrf": csrf_of(short.text), "password": PASSWORD, "again": PASSWORD + "x"}
    assert invitee.post(path, data=mismatch).status_code == 400
    forged = invitee.post(path, data={"csrf": "x", "password": PASSWORD, "again": PASSWORD})
    assert forged.status_code == 403
    page = invitee.get(path)
    done = invitee.post(
        path, data={"csrf": csrf_of(page.text), "password": PASSWORD, "again": PASSWORD}
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/login"
    assert signed_in(db, "cuong@sxd.gov.vn").get("/console").status_code == 200
    # Used once: the link is dead now, and a second password cannot be set with it.
    assert invitee.get(path).status_code == 404
    other = "mật khẩu khác dài"
    again = {"csrf": csrf_of(page.text), "password": other, "again": other}
    assert invitee.post(path, data=again).status_code == 404
    assert login(app_client(db), "cuong@sxd.gov.vn", other).status_code == 401
    assert app_client(db).get("/console/invite/khong-co").status_code == 404
    actions = audit_actions(db)
    assert "staff.invite" in actions and "staff.invitation_used" in actions


def test_an_expired_invitation_is_refused(sqlite_db: Engine) -> None:
    staff_id = add_login(sqlite_db, "an@sxd.gov.vn")
    with session_scope(sqlite_db) as session:
        token = store_admin.new_invitation(
            session, staff_id, utcnow() - timedelta(hours=73), timedelta(hours=72), "staff:0"
        )
    assert app_client(sqlite_db).get(f"/console/invite/{token}").status_code == 404
