"""``hailong nlp ...``: train, evaluate, route, benchmark and retrain the routing model.

Mounted by the main CLI with ``app.add_typer(nlp.cli.app, name="nlp")``. Heavy libraries are
imported inside the commands so that importing this module stays fast.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

import typer

from nlp import messages as msg

app = typer.Typer(
    help="Bộ định tuyến phản ánh tiếng Việt: huấn luyện, đánh giá, định tuyến.",
    no_args_is_help=True,
)

DataOption = typer.Option(..., "--data", help="Tệp CSV có cột text,label")
ModelOption = typer.Option(None, "--model", help="Thư mục mô hình (mặc định NLP_MODEL_DIR)")
JsonOption = typer.Option(False, "--json", help="In một đối tượng JSON")
CatalogueOption = typer.Option(
    None, "--catalogue", help="Danh mục đơn vị YAML (mặc định: kèm theo)"
)
# --from-db reads the handled complaints' examples from DATABASE_URL (hailong/nlp_db.py; the
# library itself never touches a database). Its errors are `hailong: error: ...` lines.
FromDbOption = typer.Option(
    False, "--from-db", help="Dùng các phản ánh đã xử lý trong cơ sở dữ liệu (DATABASE_URL)"
)
DayFromOption = typer.Option(
    None, "--from", help="Từ ngày YYYY-MM-DD (giờ Việt Nam), với --from-db"
)
DayToOption = typer.Option(
    None, "--to", help="Đến hết ngày YYYY-MM-DD (giờ Việt Nam), với --from-db"
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"{msg.ERROR_PREFIX}: {message}", err=True)
    raise typer.Exit(code=2)


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Known failures (bad CSV, unknown label, refused model) become one line on stderr."""
    from nlp.catalogue import CatalogueError
    from nlp.model import CorpusError, ModelError

    try:
        yield
    except (CorpusError, ModelError, CatalogueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}")


def _model_dir(model: Path | None) -> Path:
    # The CLI is where settings meet the library (NLP_MODEL_DIR); the library takes paths.
    from base.settings import get_settings

    return model or get_settings().nlp_model_dir


def _load_model(model: Path | None) -> Any:
    """The model in ``model``; for the default directory, train the default one if absent."""
    from nlp.model import MODEL_FILE, load
    from nlp.router import train_default

    directory = _model_dir(model)
    if not (directory / MODEL_FILE).exists():
        if model is not None:
            _fail(msg.NO_MODEL.format(path=directory))
        typer.echo(msg.TRAINING_DEFAULT, err=True)
        return train_default(directory)
    return load(directory)


def _progress() -> Any:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        transient=True,
    )


@app.command()
def train(
    data: Path = DataOption,
    model: Path | None = ModelOption,
    catalogue: Path | None = CatalogueOption,
    holdout: float = typer.Option(0.2, min=0.0, max=0.5, help="Phần dữ liệu giữ lại để đo"),
) -> None:
    """Huấn luyện mô hình từ CSV (text,label) và lưu (skops + thẻ mô hình)."""
    from nlp.catalogue import load_catalogue
    from nlp.model import fit, holdout_card, load_corpus, save

    directory = _model_dir(model)
    with _clean_errors(), _progress() as progress:
        task = progress.add_task(msg.STEP_READ, total=4)
        units = load_catalogue(catalogue)
        texts, labels = load_corpus(data, known_labels=list(units))
        progress.update(task, advance=1, description=msg.STEP_MEASURE)
        card = holdout_card(texts, labels, holdout=holdout, data_name=data.name)
        progress.update(task, advance=1, description=msg.STEP_FIT)
        trained = fit(texts, labels)
        trained.card = card
        progress.update(task, advance=1, description=msg.STEP_SAVE)
        save(trained, directory, training_data=(texts, labels))
        progress.update(task, advance=1)
    typer.echo(msg.TRAINED.format(path=directory, n=len(texts), k=len(set(labels))))
    if "metrics" in card:
        typer.echo(msg.HOLDOUT_METRICS.format(**card["metrics"]))


def _confusion_png(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    labels = result["labels"]
    size = max(6.0, 0.5 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(result["confusion_matrix"], cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("dự đoán")
    ax.set_ylabel("đúng")
    peak = max((max(row) for row in result["confusion_matrix"]), default=0) or 1
    for i, row in enumerate(result["confusion_matrix"]):
        for j, value in enumerate(row):
            if value:  # white on dark cells so the count stays readable
                colour = "white" if value > peak / 2 else "black"
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(f"accuracy {result['accuracy']:.3f} · macro-F1 {result['macro_f1']:.3f}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@app.command("eval")
def eval_(
    data: Path | None = typer.Option(None, "--data", help="Tệp CSV có cột text,label"),
    model: Path | None = ModelOption,
    as_json: bool = JsonOption,
    png: Path | None = typer.Option(
        None, "--png", help="Ảnh ma trận nhầm lẫn (mặc định: confusion_matrix.png trong --model)"
    ),
    from_db: bool = FromDbOption,
    date_from: str | None = DayFromOption,
    date_to: str | None = DayToOption,
) -> None:
    """Đánh giá mô hình trên CSV (accuracy, macro/weighted-F1, từng lớp, ma trận nhầm lẫn), hoặc
    độ chính xác định tuyến thực tế theo tháng với --from-db."""
    from nlp.model import evaluate, load_corpus

    if from_db or date_from is not None or date_to is not None:
        from base.errors import UserError
        from hailong.nlp_db import eval_from_db, period

        days = period(from_db, date_from, date_to)
        if data is not None or model is not None or png is not None:
            raise UserError(
                "--from-db measures the predictions stored in the database: "
                "--data, --model and --png do not apply"
            )
        eval_from_db(days, as_json=as_json)
        return
    if data is None:
        _fail("cần --data CSV (hoặc --from-db)")
    with _clean_errors():
        texts, labels = load_corpus(data)
        trained = _load_model(model)
        with _progress() as progress:
            progress.add_task(msg.STEP_PREDICT, total=None)
            result = evaluate(trained, texts, labels)
        png_path = png or _model_dir(model) / "confusion_matrix.png"
        _confusion_png(result, png_path)
    if as_json:
        keys = (
            "accuracy",
            "macro_f1",
            "weighted_f1",
            "per_class",
            "n",
            "ece",
            "accuracy_unaccented",
            "labels",
            "confusion_matrix",
        )
        typer.echo(json.dumps({k: result[k] for k in keys}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=msg.EVAL_TITLE.format(n=result["n"]))
    for column in (msg.COL_UNIT, msg.COL_PRECISION, msg.COL_RECALL, msg.COL_F1, msg.COL_SUPPORT):
        table.add_column(column, justify="left" if column == msg.COL_UNIT else "right")
    for label, row in result["per_class"].items():
        table.add_row(
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    console.print(table)
    console.print(msg.EVAL_SUMMARY.format(**result))
    # Numbered columns keep 18 units readable in an ordinary terminal width.
    confusion = Table(title=msg.CONFUSION_TITLE, box=None, padding=(0, 0, 0, 1))
    confusion.add_column("", no_wrap=True)
    for index in range(len(result["labels"])):
        confusion.add_column(str(index + 1), justify="right", min_width=2)
    for index, (label, row) in enumerate(
        zip(result["labels"], result["confusion_matrix"], strict=True)
    ):
        confusion.add_row(f"{index + 1:>2} {label}", *[str(v) if v else "·" for v in row])
    console.print(confusion)
    console.print(msg.CONFUSION_SAVED.format(path=png_path))


@app.command()
def route(
    text: str = typer.Argument(..., help="Văn bản phản ánh"),
    model: Path | None = ModelOption,
    as_json: bool = JsonOption,
    threshold: float | None = typer.Option(
        None, min=0.0, max=1.0, help="Ngưỡng độ tin cậy (mặc định NLP_CONFIDENCE_THRESHOLD)"
    ),
) -> None:
    """Định tuyến một phản ánh: đơn vị, độ tin cậy, 3 ứng viên, phường/xã, văn bản đã che."""
    from base.settings import get_settings
    from nlp.router import Router

    if threshold is None:
        threshold = get_settings().nlp_confidence_threshold

    with _clean_errors():
        router = Router(_load_model(model), threshold=threshold)
        result = router.route(text)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if result.kind != "complaint":  # not routed: the kind (nlp.intent) in place of a unit
        typer.echo(msg.ROUTE_UNIT.format(unit="-", name=result.kind))
        typer.echo(msg.ROUTE_MASKED.format(text=result.masked_text))
        return
    if result.needs_triage:
        typer.echo(
            msg.ROUTE_TRIAGE.format(
                confidence=result.confidence, threshold=threshold, unit=result.unit
            )
        )
    else:
        typer.echo(msg.ROUTE_UNIT.format(unit=result.unit, name=result.unit_name))
        typer.echo(msg.ROUTE_CONFIDENCE.format(confidence=result.confidence))
    typer.echo(msg.ROUTE_CANDIDATES)
    for unit, score in result.candidates:
        typer.echo(f"  {unit:<9} {score:.3f}")
    typer.echo(
        msg.ROUTE_WARD.format(ward=result.ward.full_name) if result.ward else msg.ROUTE_NO_WARD
    )
    typer.echo(msg.ROUTE_MASKED.format(text=result.masked_text))


@contextmanager
def one_core() -> Iterator[None]:
    """Measure on one core: pin the process (restored afterwards) and keep BLAS/OpenMP to one
    thread."""
    from threadpoolctl import threadpool_limits

    previous = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if previous:
        with suppress(OSError):
            os.sched_setaffinity(0, {min(previous)})
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if previous:
            with suppress(OSError):
                os.sched_setaffinity(0, previous)


@app.command()
def bench(
    model: Path | None = ModelOption,
    n: int = typer.Option(3000, min=100, help="Số tin dùng để đo"),
    as_json: bool = JsonOption,
) -> None:
    """Đo tốc độ định tuyến (tin/giây) trên một lõi."""
    from nlp.model import default_corpus_path, load_corpus
    from nlp.router import Router

    with _clean_errors(), one_core():
        router = Router(_load_model(model))
        texts, _ = load_corpus(default_corpus_path())
        sample = [texts[i % len(texts)] + f" {i}" for i in range(n)]
        router.route_many(sample[:50])  # warm caches (normaliser, imports)
        with _progress() as progress:
            progress.add_task(msg.STEP_BENCH, total=None)
            start = time.perf_counter()
            for i in range(0, n, 256):
                router.route_many(sample[i : i + 256])
            router_rate = n / (time.perf_counter() - start)
            start = time.perf_counter()
            router.model.predict_proba(sample)
            classifier_rate = n / (time.perf_counter() - start)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "router_msgs_per_s": router_rate,
                    "classifier_msgs_per_s": classifier_rate,
                    "n": n,
                    "cores": 1,
                }
            )
        )
    else:
        typer.echo(msg.BENCH_RESULT.format(router=router_rate, classifier=classifier_rate, n=n))


@app.command()
def retrain(
    corrections: Path | None = typer.Option(
        None, "--corrections", help="CSV hiệu chỉnh: text,wrong_unit,right_unit"
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Dữ liệu gốc (mặc định: dữ liệu của mô hình hiện tại)"
    ),
    model: Path | None = ModelOption,
    catalogue: Path | None = CatalogueOption,
    as_json: bool = JsonOption,
    from_db: bool = FromDbOption,
    date_from: str | None = DayFromOption,
    date_to: str | None = DayToOption,
) -> None:
    """Gộp hiệu chỉnh của cán bộ (CSV và/hoặc --from-db: các phản ánh đã xử lý), so sánh mô hình
    cũ/mới, chỉ thay khi mô hình mới không kém hơn."""
    from dataclasses import asdict

    from nlp.catalogue import load_catalogue
    from nlp.model import MODEL_FILE
    from nlp.retrain import Correction, load_corrections
    from nlp.retrain import retrain as run_retrain

    learned: Any = None
    days: Any = None
    if from_db or date_from is not None or date_to is not None:
        from hailong.nlp_db import period

        days = period(from_db, date_from, date_to)
    elif corrections is None:
        _fail("cần --corrections CSV (hoặc --from-db)")
    directory = _model_dir(model)
    with _clean_errors():
        units = load_catalogue(catalogue)
        items: list[Correction] = []
        if corrections is not None:
            items = load_corrections(corrections, known_labels=list(units))
        if from_db:
            from hailong.nlp_db import corrections_from_db

            learned = corrections_from_db(days, known_labels=list(units))
            items += learned.corrections
            if not items:
                _nothing_learned(learned, as_json)
                return
        if data is not None and not data.is_file():
            _fail(f"không tìm thấy tệp dữ liệu: {data}")
        if not (directory / MODEL_FILE).exists():
            _load_model(None if model is None else model)
        with _progress() as progress:
            progress.add_task(msg.STEP_RETRAIN, total=None)
            report = run_retrain(directory, items, base_data=data)
    if as_json:
        typer.echo(json.dumps({**asdict(report), **_learned_fields(learned)}))
        return
    if learned is not None:
        typer.echo(_msg_from_db(learned))
    if report.replaced:
        typer.echo(
            msg.RETRAIN_REPLACED.format(
                old=report.old_macro_f1, new=report.new_macro_f1, n=report.n_holdout
            )
        )
    else:
        typer.echo(msg.RETRAIN_KEPT.format(old=report.old_macro_f1, new=report.new_macro_f1))


def _learned_fields(learned: Any) -> dict[str, Any]:
    if learned is None:
        return {}
    return {
        "from_db": {
            "n_examples": learned.n_examples,
            "n_used": len(learned.corrections),
            "n_router_wrong": learned.n_router_wrong,
            "n_skipped": learned.n_skipped,
        }
    }


def _msg_from_db(learned: Any) -> str:
    return (
        f"Từ cơ sở dữ liệu: {len(learned.corrections)} phản ánh đã xử lý làm ví dụ "
        f"(bộ định tuyến sai {learned.n_router_wrong}), bỏ qua {learned.n_skipped}."
    )


def _nothing_learned(learned: Any, as_json: bool) -> None:
    """No handled complaint to learn from: the model stays as it is."""
    if as_json:
        typer.echo(json.dumps({"replaced": False, "n_corrections": 0, **_learned_fields(learned)}))
    else:
        typer.echo(_msg_from_db(learned))
        typer.echo("Không có ví dụ nào để học: giữ nguyên mô hình.")
