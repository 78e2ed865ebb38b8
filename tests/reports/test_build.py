"""Every report formula against the hand-computed scenario in conftest.py."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from reports.build import Dim, Figure, Report, build_report, parse_by
from reports.stats import wilson_interval


def _row(report: Report, by: tuple[str, ...], **keys: str | None) -> dict:
    """The JSON row of breakdown `by` whose dimension values match `keys` (unit by code)."""
    data = report.to_dict()
    breakdown = next(b for b in data["breakdowns"] if tuple(b["by"]) == by)
    for row in breakdown["rows"]:
        if all(
            (row[k]["code"] if isinstance(row[k], dict) else row[k]) == v for k, v in keys.items()
        ):
            return row
    raise AssertionError(f"no row {keys} in {breakdown['rows']}")


def test_criterion_rate_excludes_no_opinion_and_skipped(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]])
    sxd = _row(report, ("unit", "month"), unit="SXD", month="2026-03")
    # TCDV1: 5, 2, 4 → 2 of 3; TCDV2: 4, 5 (R3 no opinion) → 2 of 2.
    assert sxd["criteria"]["TCDV1"]["value"] == pytest.approx(0.6667)
    assert sxd["criteria"]["TCDV1"]["n"] == 3
    assert sxd["criteria"]["TCDV2"] == {**sxd["criteria"]["TCDV2"], "value": 1.0, "n": 2}
    # CC2: 5, 1 (R1 no opinion) → 1 of 2.
    assert sxd["criteria"]["CC2"]["value"] == 0.5
    assert sxd["criteria"]["CC2"]["n"] == 2
    # KQ1 was only skipped: no valid answer, no value, flagged.
    assert sxd["criteria"]["KQ1"] == {
        "value": None,
        "n": 0,
        "ci_low": None,
        "ci_high": None,
        "small_n": True,
    }


def test_element_index_is_mean_of_criterion_rates(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]])
    sxd = _row(report, ("unit", "month"), unit="SXD", month="2026-03")
    assert sxd["elements"]["TCDV"]["value"] == pytest.approx(round((2 / 3 + 1) / 2, 4))
    assert sxd["elements"]["CC"]["value"] == pytest.approx(round((2 / 3 + 1 / 2) / 2, 4))
    assert sxd["elements"]["KQ"]["value"] is None
    # n of an element index = responses with a valid answer in it.
    assert sxd["elements"]["TCDV"]["n"] == 3
    assert list(sxd["elements"]) == ["TCDV", "CC", "KQ"]  # SIPAS order


def test_overall_index_equal_weights(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]])
    sxd = _row(report, ("unit", "month"), unit="SXD", month="2026-03")
    # (5/6 + 7/12) / 2 = 17/24; KQ has no data and is left out, not counted as 0.
    assert sxd["overall_index"]["value"] == pytest.approx(round(17 / 24, 4))
    assert sxd["overall_index"]["n"] == 3
    assert sxd["respondents"] == 3
    # Whole range: TCDV (0.75 + 1)/2, CC (0.8 + 0.5)/2 → (0.875 + 0.65)/2.
    overall = report.overall
    assert overall.overall_index.value == pytest.approx(0.7625)
    assert overall.criteria["CC1"].value == pytest.approx(0.8)
    assert overall.criteria["CC1"].n == 5
    assert overall.respondents == 5


def test_overall_index_configured_weights(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]], element_weights={"CC": 2})
    sxd = _row(report, ("unit", "month"), unit="SXD", month="2026-03")
    # (5/6 × 1 + 7/12 × 2) / 3 = 2/3 (TCDV not named → weight 1).
    assert sxd["overall_index"]["value"] == pytest.approx(0.6667)
    only_cc = build_report(scenario_engine, [["unit"]], element_weights={"TCDV": 0})
    assert only_cc.overall.overall_index.value == pytest.approx(0.65)


def test_wilson_interval_known_values() -> None:
    # Reference values (Wilson 1927; e.g. Newcombe 1998, table I): 8/10, 0/10, 50/100.
    assert wilson_interval(0.8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(1.0, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0.5, 0) == (0.0, 1.0)


def test_figures_carry_wilson_interval_of_their_n(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]])
    cc1 = report.overall.criteria["CC1"]  # 4 of 5
    low, high = wilson_interval(0.8, 5)
    assert (cc1.ci_low, cc1.ci_high) == pytest.approx((low, high))
    assert cc1.to_dict()["ci_low"] == pytest.approx(0.3755)
    assert cc1.to_dict()["ci_high"] == pytest.approx(0.9638)


def test_small_samples_flagged_against_min_n(scenario_engine: Engine) -> None:
    flagged = build_report(scenario_engine, [["unit"]])  # default min_n 30: all small
    assert flagged.overall.overall_index.small_n
    report = build_report(scenario_engine, [["unit", "month"]], min_n=3)
    sxd = _row(report, ("unit", "month"), unit="SXD", month="2026-03")
    assert sxd["criteria"]["TCDV1"]["small_n"] is False  # n = 3
    assert sxd["criteria"]["TCDV2"]["small_n"] is True  # n = 2
    assert report.min_n == 3


def test_units_marked_against_target_and_ranked(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit"]], target=0.95, min_n=1)
    units = {
        (u.keys["unit"].code if isinstance(u.keys["unit"], Dim) else None): u for u in report.units
    }
    assert units["XTD"].meets_target and units["XTD"].rank == 1
    assert not units["SXD"].meets_target and units["SXD"].rank == 2
    # Responses without a unit read "(không rõ)", come last and are not ranked.
    unknown = units[None]
    assert unknown.keys["unit"] == Dim(None, "(không rõ)")
    assert unknown.rank is None and unknown.unranked == "unknown_unit"
    assert report.units[-1] is unknown
    lenient = build_report(scenario_engine, [["unit"]], target=0.7)
    assert all(u.meets_target for u in lenient.units if not u.no_data)


def test_units_below_min_n_are_listed_after_the_ranked_ones_without_a_rank(
    scenario_engine: Engine,
) -> None:
    # XTD has one response at 100%: it used to take rank 1 over SXD's five.
    report = build_report(scenario_engine, [["unit"]], min_n=3)
    by_code = {u.keys["unit"].code: u for u in report.units}  # type: ignore[union-attr]
    assert by_code["SXD"].rank == 1 and by_code["SXD"].unranked is None
    assert by_code["XTD"].rank is None and by_code["XTD"].unranked == "small_n"
    order = [u.unranked for u in report.units]
    assert order == sorted(order, key=[None, "small_n", "no_data", "unknown_unit"].index)
    ranked = [u.rank for u in report.units if u.rank is not None]
    assert ranked == list(range(1, len(ranked) + 1))


def test_ratio_766_counts_bad_rating_and_lateness_once(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]])
    rows = {(r.keys["unit"].code, r.keys["month"]): r for r in report.ratio_766}  # type: ignore[union-attr]
    march = rows[("SXD", "2026-03")]
    # D1..D5 completed in March; D3 rated bad, D2 late, D4 both (counted once); D7 unfinished.
    assert (march.dossiers, march.rated_khong_hai_long, march.late, march.excluded) == (5, 2, 2, 3)
    assert march.ratio.value == pytest.approx(2 / 5)
    assert not march.meets_target
    assert rows[("SXD", "2026-04")].ratio.value == 1.0
    assert rows[("XTD", "2026-04")].meets_target
    assert report.overall_766.dossiers == 7
    assert report.overall_766.ratio.value == pytest.approx(4 / 7)


def test_ratio_766_whole_range_without_period(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit"]])
    assert report.period is None
    sxd = next(r for r in report.ratio_766 if r.keys["unit"].code == "SXD")  # type: ignore[union-attr]
    assert list(sxd.keys) == ["unit"]
    assert (sxd.dossiers, sxd.excluded) == (6, 3)


def test_ratio_766_complaint_hook_excludes_more(scenario_engine: Engine) -> None:
    report = build_report(
        scenario_engine,
        [["unit"]],
        extra_766_exclusions=[lambda dossier: dossier.c.code == "D1"],
    )
    assert report.overall_766.excluded == 4


def test_rating3_distribution(scenario_engine: Engine) -> None:
    report = build_report(scenario_engine, [["unit", "month"]])
    total = report.overall_rating3
    assert total.counts == {"rat_hai_long": 2, "hai_long": 2, "khong_hai_long": 3}
    assert total.n == 7
    assert total.shares["khong_hai_long"].value == pytest.approx(3 / 7)
    assert total.satisfied.value == pytest.approx(4 / 7)
    sxd_march = next(
        r
        for r in report.rating3
        if r.keys["unit"].code == "SXD" and r.keys["month"] == "2026-03"  # type: ignore[union-attr]
    )
    # D1, D2, D3, D4 and D7 (rated though not finished: it is still a rating given).
    assert sxd_march.counts == {"rat_hai_long": 1, "hai_long": 1, "khong_hai_long": 3}


def test_periods_are_local_and_date_filter_inclusive(scenario_engine: Engine) -> None:
    # R5 starts 2026-03-31 23:30 UTC, 06:30 on April 1st in Ho Chi Minh City: April.
    report = build_report(
        scenario_engine, [["month"]], date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)
    )
    data = report.to_dict()
    assert [r["month"] for r in data["breakdowns"][0]["rows"]] == ["2026-03"]
    assert report.overall.respondents == 3
    april = build_report(scenario_engine, [["unit"]], date_from=date(2026, 4, 1))
    assert april.overall.respondents == 2  # R4, R5
    assert april.overall.overall_index.value == 1.0
    assert april.overall_766.dossiers == 2  # D6, D8
    utc = build_report(
        scenario_engine,
        [["month"]],
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
        timezone="UTC",
    )
    assert utc.overall.respondents == 4  # the old reading, still available as a setting


def test_quarter_year_channel_procedure_element_breakdowns(scenario_engine: Engine) -> None:
    report = build_report(
        scenario_engine,
        [["quarter"], ["year"], ["channel"], ["procedure"], ["element", "unit"]],
    )
    data = {tuple(b["by"]): b["rows"] for b in report.to_dict()["breakdowns"]}
    assert [r["quarter"] for r in data[("quarter",)]] == ["2026-Q1", "2026-Q2"]
    assert [r["year"] for r in data[("year",)]] == ["2026"]
    assert {r["channel"] for r in data[("channel",)]} == {"telegram", "zalo", "web"}
    procedures = {r["procedure"]["code"]: r for r in data[("procedure",)]}
    assert procedures["GPXD"]["procedure"]["name"] == "Cấp giấy phép xây dựng"
    assert procedures[None]["procedure"]["name"] == "(không rõ)"
    cc_sxd = _row(report, ("element", "unit"), element="CC", unit="SXD")
    # A row of one element: its overall index is that element's index.
    assert cc_sxd["overall_index"]["value"] == pytest.approx(round(7 / 12, 4))
    assert list(cc_sxd["elements"]) == ["CC"]
    assert set(cc_sxd["criteria"]) == {"CC1", "CC2"}


def test_empty_database_and_empty_period_do_not_crash(
    empty_engine: Engine, scenario_engine: Engine
) -> None:
    for engine, kwargs in [
        (empty_engine, {}),
        (scenario_engine, {"date_from": date(2030, 1, 1)}),
    ]:
        report = build_report(engine, [["unit", "month"], ["element"]], **kwargs)
        data = report.to_dict()
        assert data["overall"]["overall_index"]["value"] is None
        # An empty period is "no data", neither met nor missed.
        assert data["overall"]["meets_target"] is None
        assert data["ratio_766"] == [] and data["rating3"] == []
        assert data["overall"]["rating3"]["n"] == 0
        for row in [*data["units"], *data["breakdowns"][0]["rows"]]:
            assert row["no_data"] and row["meets_target"] is None and "rank" not in row
    # The empty database has no unit and no period: nothing to list.
    assert build_report(empty_engine, [["unit", "month"]]).to_dict()["breakdowns"][0]["rows"] == []
    # The empty period still lists the units, as no-data rows of its one month.
    late = build_report(scenario_engine, [["unit", "month"]], date_from=date(2030, 1, 1))
    rows = late.to_dict()["breakdowns"][0]["rows"]
    assert {(r["unit"]["code"], r["month"]) for r in rows} == {
        ("SXD", "2030-01"),
        ("XTD", "2030-01"),
    }
    assert [u.unranked for u in late.units] == ["no_data", "no_data"]


def test_json_shape_is_stable(scenario_engine: Engine) -> None:
    data = build_report(scenario_engine, None).to_dict()
    assert set(data) == {
        "generated_at",
        "filters",
        "target",
        "min_n",
        "element_weights",
        "period",
        "overall",
        "breakdowns",
        "units",
        "ratio_766",
        "rating3",
        "questionnaire",
        "timezone",
        "span",
        "targets",
        "responses",
        "criteria_text",
        "closed",
    }
    assert data["breakdowns"][0]["by"] == ["unit", "month"]  # the default monthly report
    row = data["breakdowns"][0]["rows"][0]
    assert set(row["unit"]) == {"code", "name"}
    assert set(row["overall_index"]) == {"value", "n", "ci_low", "ci_high", "small_n"}
    assert isinstance(row["meets_target"], bool)
    assert set(data["ratio_766"][0]) >= {"unit", "month", "dossiers", "ratio", "meets_target"}
    assert set(data["rating3"][0]["levels"]) == {"rat_hai_long", "hai_long", "khong_hai_long"}


def test_parse_by() -> None:
    assert parse_by(None) == (("unit", "month"),)
    assert parse_by(["unit,month", "Channel"]) == (("unit", "month"), ("channel",))
    for bad in (["unit,colour"], ["month,year"], ["unit,unit"], [","]):
        with pytest.raises(ValueError):
            parse_by(bad)


def test_figure_of_zero_n_has_no_value() -> None:
    assert Figure.proportion(0, 0, 30) == Figure(None, 0, None, None, True)


@pytest.mark.parametrize(
    "spec",
    [("unit", "month"), ("element",), ("procedure", "channel"), ("day",), ("year", "element")],
)
def test_sections_do_not_depend_on_the_other_breakdowns(
    scenario_engine: Engine, spec: tuple[str, ...]
) -> None:
    # Counts are taken once at the finest grouping all breakdowns need and summed per section:
    # asking for more breakdowns must not change any figure of the others.
    alone = build_report(scenario_engine, [spec], min_n=3).to_dict()
    many = build_report(
        scenario_engine,
        [spec, ["procedure", "quarter"], ["channel", "element"], ["unit", "day"], ["year"]],
        min_n=3,
    ).to_dict()
    assert many["breakdowns"][0] == alone["breakdowns"][0]
    for section in ("overall", "units"):
        assert many[section] == alone[section]
    if alone["period"] == many["period"]:
        assert many["ratio_766"] == alone["ratio_766"]
        assert many["rating3"] == alone["rating3"]


def test_breakdown_rows_add_up_to_the_overall_counts(scenario_engine: Engine) -> None:
    data = build_report(scenario_engine, [["unit", "month"], ["channel"]], min_n=3).to_dict()
    overall = data["overall"]
    for breakdown in data["breakdowns"]:
        rows = breakdown["rows"]
        # A response has one unit, month and channel: respondents add up exactly.
        assert sum(r["respondents"] for r in rows) == overall["respondents"]
        for code, figure in overall["criteria"].items():
            assert sum(r["criteria"].get(code, {"n": 0})["n"] for r in rows) == figure["n"]
    assert sum(r["n"] for r in data["rating3"]) == overall["rating3"]["n"]
    assert sum(r["dossiers"] for r in data["ratio_766"]) == overall["ratio_766"]["dossiers"]
