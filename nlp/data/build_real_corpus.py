"""Build ``nlp/data/real_corpus.csv`` from the collectors' part files (issue 16, item 1).

Each part file has the columns ``text,label,agency,source_url,date,note``. The script keeps a
row only when it is what the corpus promises: quoted from the original public page, labelled
with a catalogue code, long enough to route, not a copy of another row; it masks personal data
(names too) and writes the rows sorted, so the same parts always give the same file.

Rules, in the order they are applied (each row is counted under the first rule that drops it):

1. ``github``: the note says the text came from a GitHub file (a scrape of a page, not the
   stored copy of the page itself).
2. ``mirror``: the page is on a mirror, spam or aggregator site, not the original: a host of
   :data:`MIRROR_HOSTS`, a note saying "mirror", "repost" or "aggregator", or any other row
   from a host some note called a mirror.
3. ``composed``: the note says the collector composed the text from the page's title and the
   agency's answer (``reconstructed``, ``... from the answer``, ``restated in the answer``):
   neither the citizen's words nor the page's own wording of the complaint, and a text taken
   from the answer may carry the answer's hints. A petition quoted in the answer's headings
   is the council's own wording and stays.
4. ``unknown_label``: an empty label or one that is not a code of ``nlp/data/units.yaml``.
5. ``empty_text`` / ``short_text``: nothing left, or fewer than :data:`MIN_CHARS` characters
   after masking (a title, not a complaint).
6. ``duplicate``: the same text after :func:`nlp.text.normalize` as an earlier row.
7. ``near_duplicate``: same label and character-3-gram Jaccard similarity of the normalised
   texts >= :data:`NEAR_DUPLICATE` with an earlier kept row (the same complaint quoted twice).

Usage (a new collection round merges into the corpus: the corpus is itself a valid part,
and building it again changes nothing)::

    .venv/bin/python nlp/data/build_real_corpus.py nlp/data/real_corpus.csv \\
        /tmp/corpus/hH.csv /tmp/corpus/hI.csv [--out nlp/data/real_corpus.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: the library is the repository's
    sys.path.insert(0, str(REPO))

COLUMNS = ("text", "label", "agency", "source_url", "date", "note")
DEFAULT_OUT = REPO / "nlp" / "data" / "real_corpus.csv"
MIN_CHARS = 15
NEAR_DUPLICATE = 0.8
# Sites that serve other papers' articles (scraped mirrors, betting/lottery spam, aggregators and
# tag/listing pages of unknown sites): the original page is elsewhere, so the row's source is
# not the public page the corpus cites.
MIRROR_HOSTS = frozenset({
    "88tysobongda.com", "marimbapop.com", "xosobinhdinh.org", "xosogialai.org", "evbn.org",
    "thoibao.online", "baomoi.com", "nhandanvietnam.com", "saigonmoi24.com",
    # third round: news aggregators and reposting blogs, legal-document mirrors
    "docnhanh.vn", "haiphong24h.org", "hanoiplus.online", "tintucvietduc.net",
    "tintucthuanthanhbacninh.com", "ahadep.com", "archive.vietnam.vn", "tracuuphapluat.info",
    "dulieuphapluat.vn", "luatminhkhue.vn",
})
MIRROR_NOTES = ("mirror", "repost", "aggregator")
COMPOSED_NOTE = re.compile(
    r"reconstruct|restate|(?:from|in) the answer\b|answer context|answer's", re.IGNORECASE
)
RULES = ("github", "mirror", "composed", "unknown_label", "empty_text", "short_text", "duplicate",
         "near_duplicate")


class InputError(Exception):
    """A bad argument or input file: printed as one line, exit code 2."""


@dataclass
class Build:
    rows: list[dict[str, str]]
    read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def host(url: str) -> str:
    """Lower-case host without port and without a ``www.``/``m.``/``amp.``/``beta.`` prefix."""
    name = (urlsplit(url.strip()).hostname or "").lower()
    for prefix in ("www.", "m.", "amp.", "beta."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def _on(name: str, hosts: Iterable[str]) -> bool:
    return any(name == h or name.endswith(f".{h}") for h in hosts)


def read_csv(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a UTF-8 CSV file that has ``columns`` (header read
    case-insensitively); a missing file, a missing column, bad encoding or broken CSV raises
    :class:`InputError`. Also the reader of ``bench/nlp_real_eval.py``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            names = [c.strip().lower() for c in reader.fieldnames or []]
            missing = [c for c in columns if c not in names]
            if missing:
                raise InputError(
                    f"{path}: expected columns {','.join(columns)}; missing {','.join(missing)}"
                    f" (header: {','.join(names) or 'empty'})"
                )
            reader.fieldnames = names
            yield from enumerate(reader, start=2)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from exc


def read_parts(paths: Sequence[Path]) -> list[dict[str, str]]:
    """Every row of every part, in order; raise :class:`InputError` on a bad file."""
    return [
        {c: " ".join((row.get(c) or "").split()) for c in COLUMNS}
        for path in paths
        for _, row in read_csv(path, COLUMNS)
    ]


def trigrams(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 3] for i in range(max(1, len(text) - 2)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def mask(text: str) -> str:
    """``mask_pii(names=True)`` until nothing changes, so masking the output again is a no-op."""
    from nlp.pii import mask_pii

    for _ in range(3):
        masked = mask_pii(text, names=True)
        if masked == text:
            break
        text = masked
    return text


def build(rows: Sequence[dict[str, str]], known_labels: Iterable[str]) -> Build:
    """Apply the rules of the module docstring; the kept rows come back sorted."""
    from nlp.text import normalize

    known = set(known_labels)
    result = Build([], read=len(rows))
    mirrors = set(MIRROR_HOSTS) | {
        host(r["source_url"]) for r in rows
        if any(word in r["note"].lower() for word in MIRROR_NOTES) and host(r["source_url"])
    }
    seen: set[str] = set()
    kept_grams: list[tuple[str, frozenset[str]]] = []
    for row in rows:
        note = row["note"].lower()
        if "github" in note:
            result.dropped["github"] += 1
            continue
        if _on(host(row["source_url"]), mirrors):
            result.dropped["mirror"] += 1
            continue
        if COMPOSED_NOTE.search(note) and "answer headings" not in note:
            result.dropped["composed"] += 1
            continue
        if row["label"] not in known:
            result.dropped["unknown_label"] += 1
            continue
        text = mask(row["text"])
        if not text:
            result.dropped["empty_text"] += 1
            continue
        if len(text) < MIN_CHARS:
            result.dropped["short_text"] += 1
            continue
        key = normalize(text)
        if key in seen:
            result.dropped["duplicate"] += 1
            continue
        grams = trigrams(key)
        if any(label == row["label"] and jaccard(grams, other) >= NEAR_DUPLICATE
               for label, other in kept_grams):
            result.dropped["near_duplicate"] += 1
            continue
        seen.add(key)
        kept_grams.append((row["label"], grams))
        result.rows.append({**row, "text": text})
    result.rows.sort(key=lambda r: (r["label"], r["source_url"], r["date"], r["text"]))
    return result


def write(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write the corpus (UTF-8, ``\\n`` line ends), replacing ``path`` atomically."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)


def summary(result: Build) -> str:
    per_label = Counter(r["label"] for r in result.rows)
    lines = [f"read {result.read} rows, kept {len(result.rows)}", "dropped:"]
    lines += [f"  {rule:15} {result.dropped[rule]}" for rule in RULES]
    lines.append("per unit:")
    lines += [f"  {label:15} {n}" for label, n in sorted(per_label.items())]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="build_real_corpus.py", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("parts", type=Path, nargs="+",
                        help="part CSVs: text,label,agency,source_url,date,note")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output CSV (default {DEFAULT_OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    try:
        if not args.out.parent.is_dir():
            raise InputError(f"--out: no such directory: {args.out.parent}")
        from nlp.catalogue import load_catalogue

        result = build(read_parts(args.parts), list(load_catalogue()))
        if not result.rows:
            raise InputError("no row left after the rules")
    except InputError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    write(args.out, result.rows)
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
