"""bench/nlp_real_eval.py: source-grouped folds, the report's shape, one-line errors."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "nlp_real_eval.py"
FIXTURE = Path(__file__).parent / "data" / "real_eval_fixture.csv"


def _load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nlp_real_eval", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


real_eval = _load_module()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False)


def _fixture_rows() -> tuple[list[str], list[str]]:
    """Labels and raw source addresses of the fixture's labelled rows."""
    with FIXTURE.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"]]
    return [r["label"] for r in rows], [r["source_url"] for r in rows]


def test_source_key_is_host_and_path() -> None:
    key = real_eval.source_key
    assert key("https://www.Tin.example.com:443/a/b.html?page=2#x") == "tin.example.com/a/b.html"
    assert key("http://m.tin.example.com/a/b.html/") == "tin.example.com/a/b.html"
    assert key("tin.example.com/a") == "tin.example.com/a"
    assert key("https://tin.example.com/a") != key("https://tin.example.com/b")
    assert key("  ") == ""


def test_fixture_shape() -> None:
    labels, urls = _fixture_rows()
    assert len(labels) == 60 and len(set(labels)) == 4
    assert len({real_eval.source_key(u) for u in urls}) == 12
    assert len(set(urls)) > 12  # some pages are written two ways: the grouping must merge them


@pytest.mark.parametrize("k", [2, 3, 5])
def test_no_source_in_two_folds(k: int) -> None:
    labels, urls = _fixture_rows()
    groups = [real_eval.source_key(u) for u in urls]
    folds = real_eval.assign_folds(labels, groups, k)
    assert len(folds) == len(labels)
    assert set(folds) == set(range(k))  # every fold is used
    seen: defaultdict[str, set[int]] = defaultdict(set)
    for group, fold in zip(groups, folds, strict=True):
        seen[group].add(fold)
    assert all(len(f) == 1 for f in seen.values()), seen
    assert real_eval.assign_folds(labels, groups, k) == folds  # fixed seed: reproducible


def test_too_few_sources_for_the_folds() -> None:
    with pytest.raises(real_eval.InputError, match="need at least 5 sources"):
        real_eval.assign_folds(["SXD"] * 4 + ["SYT"] * 4, ["a", "b", "c", "d"] * 2, 5)


def test_recommend_takes_the_lowest_triage_that_keeps_the_target() -> None:
    def row(threshold: float, triage: float, accuracy: float, bare: float) -> dict[str, Any]:
        return {"threshold": threshold,
                "as_written": {"triage_rate": triage, "routed_accuracy": accuracy},
                "unaccented": {"triage_rate": triage, "routed_accuracy": bare}}

    rows = [row(0.4, 0.05, 0.88, 0.88), row(0.5, 0.10, 0.91, 0.89), row(0.6, 0.20, 0.93, 0.92),
            row(0.7, 0.30, 0.95, 0.95)]
    assert real_eval.recommend(rows, ("as_written",))["threshold"] == 0.5
    assert real_eval.recommend(rows, ("as_written", "unaccented"))["threshold"] == 0.6
    assert real_eval.recommend(rows, ("as_written",), target=0.99)["threshold"] is None


@pytest.fixture(scope="module")
def report(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any],
                                                                                   str]:
    """One run of the command on the fixture, against a small seed (20 messages a unit)."""
    out = tmp_path_factory.mktemp("real-eval") / "results.md"
    result = _run("--real", str(FIXTURE), "--seed", str(small_corpus), "--folds", "3",
                  "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), out.read_text(encoding="utf-8")


def test_json_keys(report: tuple[dict[str, Any], str]) -> None:
    data, _ = report
    assert {"corpus", "seed", "folds", "threshold", "settings", "threshold_sweep",
            "recommendation", "seconds"} <= set(data)
    assert data["corpus"]["rows"] == 60 and data["corpus"]["sources"] == 12
    assert data["corpus"]["skipped_unlabelled"] == 1
    assert data["seed"]["rows"] == 360
    assert list(data["settings"]) == ["seed_only", "real_only", "seed_and_real"]
    for setting in data["settings"].values():
        for view in ("as_written", "unaccented"):
            scores = setting[view]
            assert {"accuracy", "accuracy_ci95", "macro_f1", "triage_rate",
                    "routed_accuracy", "per_class"} <= set(scores)
            assert 0.0 <= scores["accuracy"] <= 1.0 and scores["n"] == 60
            assert scores["accuracy"] <= scores["top2_accuracy"] <= scores["top3_accuracy"] <= 1
            assert len(scores["accuracy_by_fold"]) == 3
    assert data["settings"]["seed_only"]["train_rows_per_fold"] == [360] * 3
    # (c) trains on the seed plus the real rows of the other folds, never on the test fold
    sizes = data["folds"]["rows_per_fold"]
    assert data["settings"]["seed_and_real"]["train_rows_per_fold"] == [360 + 60 - s
                                                                       for s in sizes]
    assert [r["threshold"] for r in data["threshold_sweep"]] == pytest.approx(
        [0.2 + 0.05 * i for i in range(13)])
    assert set(data["threshold_sweep"][0]["as_written"]) == {"triage_rate", "routed",
                                                             "routed_accuracy"}
    assert {"rule", "threshold"} <= set(data["recommendation"])


def test_markdown_tables(report: tuple[dict[str, Any], str]) -> None:
    _, markdown = report
    assert ("| trained on | training rows | accuracy | macro-F1 | accuracy, unaccented | "
            "macro-F1, unaccented | triage | routed accuracy | triage, unaccented | "
            "routed accuracy, unaccented |") in markdown
    for name in ("(a) seed only", "(b) real only", "(c) seed + real"):
        assert f"| {name} |" in markdown
    assert "| unit | rows | sources | recall | recall, unaccented | precision |" in markdown
    for unit in ("SXD", "DIENLUC", "CAPNUOC", "SYT"):
        assert f"| {unit} | 15 |" in markdown
    assert "| trained on | top-1 | top-2 | top-3 | top-1, unaccented |" in markdown
    assert markdown.count("| (c) seed + real |") == 2
    assert "| 0.50 |" in markdown and "Rule: " in markdown


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nlp_real_eval.py: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_missing_file(tmp_path: Path) -> None:
    _assert_one_line_error(_run("--real", str(tmp_path / "nope.csv")), "nope.csv", "no such file")


def test_wrong_header(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,label,url\nđường ngập,SXD,https://a.example.com/x\n", encoding="utf-8")
    _assert_one_line_error(_run("--real", str(path)), "missing agency,source_url,date,note")


def test_unknown_label(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",SXD,", ",SO_XAY_DUNG,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_one_line_error(_run("--real", str(path)), "bad.csv:4", "SO_XAY_DUNG")


@pytest.mark.parametrize("args", [["--folds", "1"], ["--folds", "x"], []])
def test_bad_arguments(args: list[str]) -> None:
    real = [] if not args else ["--real", str(FIXTURE)]
    _assert_one_line_error(_run(*real, *args))


def _write_annotations(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "label", "confidence"])
        writer.writerows(rows)
    return path


def _fixture_texts() -> list[tuple[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle) if r["label"]]


def test_blind_annotations_are_compared_with_the_corpus_and_the_model(
    small_corpus: Path, tmp_path: Path
) -> None:
    """10 annotated rows: 7 given the corpus's unit (5 high, 2 low confidence), 3 another
    one; one key names no row. The report counts exactly that, and (c) on the same rows."""
    rows = _fixture_texts()[:10]
    key = real_eval.row_key
    assert key(rows[0][0]) == key("  " + rows[0][0].upper() + " ")  # normalised text
    other = {"SXD": "SYT", "SYT": "SXD", "DIENLUC": "CAPNUOC", "CAPNUOC": "DIENLUC"}
    marks = [(key(t), lab, "high") for t, lab in rows[:5]]
    marks += [(key(t), lab, "low") for t, lab in rows[5:7]]
    marks += [(key(t), other[lab], "medium") for t, lab in rows[7:]]
    marks.append(("0123456789abcdef", "SXD", "high"))
    path = _write_annotations(tmp_path / "blind.csv", marks)
    out = tmp_path / "results.md"
    result = _run("--real", str(FIXTURE), "--seed", str(small_corpus), "--folds", "3",
                  "--annotations", str(path), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    a = json.loads(result.stdout)["annotations"][0]
    assert a["n"] == 10 and a["not_in_corpus"] == 1
    assert a["agreement"] == pytest.approx(0.7)
    assert a["by_confidence"]["high"] == {"n": 5, "agreement": 1.0,
                                          "model_accuracy": a["by_confidence"]["high"][
                                              "model_accuracy"]}
    assert a["by_confidence"]["medium"]["agreement"] == 0.0
    assert a["both_right"] + a["only_annotator_right"] == 7
    assert a["both_right"] + a["only_model_right"] == round(10 * a["model_accuracy"])
    assert sum(d["n"] for d in a["disagreements"]) == 3
    markdown = out.read_text(encoding="utf-8")
    assert "Blind annotation 1" in markdown and "| high | 5 | 100.0 |" in markdown
    assert "Between annotators" not in markdown  # one annotator


def test_two_annotators_are_compared_with_each_other_and_their_consensus(
    small_corpus: Path, tmp_path: Path
) -> None:
    """Annotator 2 agrees with annotator 1 on 8 of the 10 rows they share."""
    rows = _fixture_texts()[:12]
    key = real_eval.row_key
    first = [(key(t), lab, "high") for t, lab in rows[:10]]
    second = [(key(t), lab if i < 8 else ("SYT" if lab != "SYT" else "SXD"), "low")
              for i, (t, lab) in enumerate(rows[:10])]
    second += [(key(t), lab, "high") for t, lab in rows[10:]]  # only annotator 2 has these
    one = _write_annotations(tmp_path / "one.csv", first)
    two = _write_annotations(tmp_path / "two.csv", second)
    result = _run("--real", str(FIXTURE), "--seed", str(small_corpus), "--folds", "3",
                  "--annotations", str(one), "--annotations", str(two), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [a["n"] for a in data["annotations"]] == [10, 12]
    agreement = data["annotator_agreement"]
    assert agreement["n"] == 10 and agreement["consensus_rows"] == 8
    assert agreement["pairs"][0]["annotators"] == [1, 2]
    assert agreement["pairs"][0]["agreement"] == pytest.approx(0.8)
    labels = [lab for _, lab in rows[:10]]
    other = [lab if i < 8 else ("SYT" if lab != "SYT" else "SXD") for i, lab in enumerate(labels)]
    assert agreement["pairs"][0]["kappa"] == pytest.approx(real_eval.cohen_kappa(labels, other))
    assert agreement["corpus_equals_consensus"] == 1.0  # annotator 1 copied the corpus


def test_cohen_kappa() -> None:
    assert real_eval.cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    assert real_eval.cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == 0.0
    assert real_eval.cohen_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement is total


@pytest.mark.parametrize(("content", "needle"), [
    ("key,label\nabc,SXD\n", "missing confidence"),
    ("key,label,confidence\nabc,SO_XD,high\n", "blind.csv:2: unknown unit code 'SO_XD'"),
    ("key,label,confidence\nabc,SXD,sure\n", "confidence must be one of high, medium, low"),
    ("key,label,confidence\nabc,SXD,high\nabc,SYT,low\n", "blind.csv:3: empty or repeated key"),
    ("key,label,confidence\n", "no annotations"),
    ("key,label,confidence\n0123456789abcdef,SXD,high\n", "no annotated row is in the corpus"),
])
def test_bad_annotation_files_are_one_line_errors(
    small_corpus: Path, tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "blind.csv"
    path.write_text(content, encoding="utf-8")
    result = _run("--real", str(FIXTURE), "--seed", str(small_corpus), "--folds", "3",
                  "--annotations", str(path))
    _assert_one_line_error(result, needle)


def test_the_documented_run_on_the_shipped_corpus_gives_the_published_figures() -> None:
    """nlp/README.md's command, on the shipped corpus and blind labels: the (c) accuracy and
    the blind agreement that bench/results/nlp_real_eval.md (and the README) publish."""
    published = (REPO / "bench" / "results" / "nlp_real_eval.md").read_text(encoding="utf-8")
    row = next(line for line in published.splitlines() if line.startswith("| (c) seed + real |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    as_written, unaccented = (float(cells[i].split()[0]) for i in (2, 4))
    readme = (REPO / "nlp" / "README.md").read_text(encoding="utf-8")
    command = ("bench/nlp_real_eval.py --real nlp/data/real_corpus.csv --annotations\n"
               "bench/data/blind_labels.csv --annotations bench/data/blind_labels_2.csv")
    assert command in readme and f"{as_written} (" in readme
    result = _run("--real", "nlp/data/real_corpus.csv",
                  "--annotations", "bench/data/blind_labels.csv",
                  "--annotations", "bench/data/blind_labels_2.csv", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    both = data["settings"]["seed_and_real"]
    # The SVM's solver may break ties differently from run to run: a row or two.
    assert abs(100 * both["as_written"]["accuracy"] - as_written) <= 0.5
    assert abs(100 * both["unaccented"]["accuracy"] - unaccented) <= 0.5
    for annotation in data["annotations"]:
        assert annotation["n"] == 196 and annotation["not_in_corpus"] == 0
        assert f"{100 * annotation['agreement']:.1f} %" in published
    kappa = data["annotator_agreement"]["pairs"][0]["kappa"]
    assert f"Cohen's kappa {kappa:.3f}" in published
