"""Is a message a complaint to route, or something else the chat should answer itself?

`detect(text)` names the kind of a citizen's message: ``complaint`` (a complaint, a request or a
question for a unit: routed), or one of ``greeting``, ``thanks``, ``survey_question`` (about the
satisfaction survey or the bot itself), ``spam`` (ads, loan or gambling offers, keyboard mash),
``foreign`` (another language than Vietnamese) and ``empty`` (emoji, punctuation, digits).

Pure and fast (tens of µs, no model): rules over the folded text (lower case, no diacritics,
teen code expanded with `nlp.text.ABBREVIATIONS`), so that typing with or without diacritics
gives the same answer. The guiding rule is never to drop a complaint: a message is small talk
or a survey question only when *every* word of it is small-talk or survey vocabulary, so "chào
ad, đường nhà em ngập quá" stays a complaint; spam needs an offer *and* a contact channel and
no sign of a grievance; foreign needs English (or other-language) words to outnumber
Vietnamese ones, or a non-Latin script. See nlp/README.md ("Not a complaint").
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from nlp.text import ABBREVIATIONS, MAX_CHARS, clean, strip_diacritics

COMPLAINT: Final = "complaint"
GREETING: Final = "greeting"
THANKS: Final = "thanks"
SURVEY_QUESTION: Final = "survey_question"
SPAM: Final = "spam"
FOREIGN: Final = "foreign"
EMPTY: Final = "empty"
KINDS: Final = (COMPLAINT, GREETING, THANKS, SURVEY_QUESTION, SPAM, FOREIGN, EMPTY)

# --- lexicons (folded: lower case, no diacritics, after teen-code expansion) -----------------
# Each phrase may belong to several categories; a message is segmented into its longest known
# phrases, and what is left over (the residual) is what decides that it is a complaint.

_GREET = """
xin chao | chao | chao ban | chao ad | alo | allo | lo | hello | helo | hallo | hi | hey |
chao buoi sang | chao buoi trua | chao buoi chieu | chao buoi toi | good morning |
good afternoon | good evening | co ai khong | co ai o do khong | co ai o day khong |
co ai truc khong | co nguoi khong | ai do | test | test thu | xin phep | cho hoi | xin hoi |
hoi | cho em hoi | cho minh hoi | cho toi hoi | co do khong | con do khong | co ai do khong |
chuc
"""
# Words that only keep a greeting a greeting ("cho em hỏi chút ạ").
_GREET_CONTEXT = """
cho | lam phien | chut | buoi sang | buoi chieu | buoi toi | ngay moi | voi | nao | mot chut |
vai dieu | tot lanh | ngay tot lanh | buoi sang tot lanh | vui ve | an lanh | suc khoe
"""
_THANKS = """
cam on | cam ta | camon | cam on nhieu | thank you | thanks | thx | ty | biet on |
da ro | ro roi | hieu roi | biet roi | duoc roi | da hieu | tam biet | bye | bye bye | goodbye |
good bye | hen gap lai | bai bai
"""
# Words that only keep thanks thanks ("cảm ơn ad đã trả lời nhanh").
_THANKS_CONTEXT = """
da | ho tro | giup | giup do | tra loi | phan hoi | nhiet tinh | tan tinh | vi | su | cho |
chuc | ngay tot lanh | mot ngay tot lanh | vui ve | suc khoe | nhieu | rat | lam | qua |
very much | much | so | you | u | thong tin | huong dan | nhanh | nhan | nhan duoc | da nhan |
roi | hieu | lai | gap lai | nhe | for | your | help | for your help | so much | a lot
"""
# Addressing the bot, particles, acknowledgements: removable in any small talk.
_FILLER = """
ad | admin | ad oi | ban | bot | chatbot | he thong | tong dai | tong dai vien | anh | chi |
em | minh | toi | tui | ong | ba | co | chu | bac | moi nguoi | ca nha | shop | oi | a | ah |
nhe | nha | nhen | nghen | ne | nhi | vang | da | u | uh | um | uhm | duoc | oki | okie | okay |
haha | hihi | hehe | kaka | hic | vay | luon | ha | nhieu | rat | lam | xin
"""
# Who is addressed: "ad ơi" alone is a greeting, "ạ" alone is not.
_ADDRESS = frozenset({"ad", "admin", "ad oi", "bot", "chatbot", "he thong", "tong dai", "oi"})

# Survey or bot topics: what makes a question one about the survey.
_SURVEY_TOPIC = """
khao sat | cuoc khao sat | phieu khao sat | phieu danh gia | phieu | danh gia | hai long |
muc do hai long | su hai long | chi so hai long | chi so | sipas | cau hoi | cau tra loi |
cau hoi khao sat | bot | chatbot | he thong nay | tin nhan nay | link | link nay | duong link |
duong dan | ma qr | qr | trang nay | kenh nay | ung dung nay | tong dai nay | ban la ai |
nguoi that | nguoi hay may | may hay nguoi | tu dong | tra loi tu dong | thong tin ca nhan |
du lieu | du lieu ca nhan | cau | cac cau
"""
# Question words and what people ask about a survey.
_SURVEY_CUE = """
de lam gi | lam gi | dung de lam gi | dung de | dung vao viec gi | de lam | la gi | cua ai |
la ai | ai | xem | doc | biet | thay | nhan | quan ly | su dung | dung | lam sao |
lam the nao | nhu the nao | the nao | ra sao | o dau | dau | khong | chua | bao lau |
bao nhieu | may | cau | phut | bat buoc | tai sao | vi sao | sao | an danh | bao mat | bi mat |
giu bi mat | cong khai | lo | bi lo | mat phi | phi | mat tien | tac dung | co ich | giup gi |
duoc gi | muc dich | y nghia | tham gia | chinh thuc | that | co phai | lua dao | gia mao |
tin duoc | an toan | xoa | sua | thay doi | dung khong | bat dau | o dau vay | gi | gui | roi |
tra loi | giu | mat | mat bao lau | mat bao nhieu | het bao lau | cong bo | to chuc |
anh huong | dung lai | huy | lai | nhan duoc
"""
# Function words a survey question may also contain.
_SURVEY_FUNCTION = """
nay | do | cua | toi | minh | em | anh | chi | cho | duoc | se | da | dang | co | thi | la |
ma | va | voi | den | nguoi | nao | gi | vay | the | a | ha | nhi | roi | cac | nhung | mot |
cai | viec | de | ve | o | tai | khi | sau | truoc | neu | hay | hoac | lam | phai | can | nhu |
lan | nua | het | xong | ket qua | co the | y kien | gop y | thong tin | ca nhan | muc | diem |
cham diem | muon | hoi | cho hoi | xin hoi | cho em hoi | ban | ad | may | that | hay la |
tin nhan | nhung | co quan | don vi | ho so | ket qua | nhan duoc | lai | cho toi
"""

# Spam: an offer, a channel to take it up, and no grievance.
_OFFER = re.compile(
    r"\b(?:nha cai|uy tin|khuyen mai|giam gia|uu dai|qua tang|nhan qua|tang ngay|tang code|"
    r"tang num|nap (?:num|dau)|hoan tra|doi thuong|dang ky ngay|truy cap|click|kiem tien|"
    r"thu nhap|viec nhe luong cao|tuyen cong tac vien|cong tac vien|ctv|lam tai nha|"
    r"vay (?:tien|von|nhanh|gap|online|tin chap)|cho vay|giai ngan|tin chap|khong can the chap|"
    r"khong the chap|sieu toc|duyet ho so|nhan tien ngay|dang ky tai|thue tai khoan|gia cao|"
    r"khong can giay to|lai suat thap|ho tro vay|casino|ca cuoc|no hu|tai xiu|lo de|soi cau|"
    r"game bai|xoc dia|slot|sale|freeship|mien phi|mua ngay|dat hang|sim so dep|dau tu|"
    r"loi nhuan|cam ket|hoan von|tien ao|lam bang|gia re|chi tu|giao tan noi|rut tien)\b"
)
_CHANNEL = re.compile(
    r"\b(?:url|email|zalo|inbox|ib|lien he|lh|hotline|telegram|goi ngay|tai app|link|"
    r"nhom zalo|fanpage|website|web)\b"
)
_MONEY = re.compile(r"\bnum ?(?:nghin|trieu|k|tr|ty|usd|%)|\bnum\s*%|\bx ?num\b")
# Signs that the writer suffers or reports something: then it is a complaint, even when it
# quotes an ad ("tôi nhận được tin nhắn: nhà cái uy tín ...").
_GRIEVANCE = re.compile(
    r"\b(?:phan anh|de nghi|kien nghi|khieu nai|to cao|lua dao|lua|bi|nhan duoc|tin nhan rac|"
    r"cuoc goi rac|lam phien|quay roi|dan|rai|treo|xu ly|can thiep|ngan chan|chan|cong an|"
    r"co quan|chinh quyen|nguoi dan|khu pho|tinh trang|tran lan|khap|mong|yeu cau|kiem tra|"
    r"trai phep|bao ke|tin dung den|nang lai|de doa|khung bo|xin|sao|tai sao|mat tam|bien mat|"
    r"khong giao|chua giao|khong nghe may|chan so|tra tien roi|da chuyen|chuyen khoan roi|"
    r"bom hang|lat keo|nha toi|tui|(?<!chung )toi)\b"
)
_PHONE = re.compile(r"(?:\+?84|\b0)(?:[\s.\-]?\d){8,10}\b")

def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# English (and a few other Latin-script languages') words, for the language test. Those that
# are also Vietnamese syllables when typed without diacritics ("an", "to", "me") are ignored.
_FOREIGN_WORDS = _word_set(
    """
    the a an is are was were be been being am i you he she it we they my your his her its our
    their me him us them this that these those there here what where when why how who which
    have has had do does did done not no yes please help can could would should will shall
    may might must and or but if then than because so very too also just only with without
    for from of to in on at by about into over under after before since for during up down
    out off again there street road water electricity power bill garbage trash rubbish noise
    neighbor neighbour house home apartment building police complaint problem broken flooded
    flood flooding light lights traffic bus driver rude doctor hospital school teacher office
    visa passport residence register registration temporary renew foreigner english speak
    anyone someone something anything nothing everyone thank thanks hello hi good morning
    afternoon evening night day days week weeks month months year years yesterday today
    tomorrow since been cut off still want make need know think see look like get got give
    tell ask send sent call called pay paid fee money price too much many more most less
    time hour hours minute minutes front next door every always never ever collected
    collect fix fixed repair repaired dirty smell smells loud late early open closed
    please district ward city people person man woman child children family car cars
    motorbike motorbikes sidewalk pavement tree trees dog dogs cat park market shop store
    restaurant bar karaoke construction site dust smoke fire air pollution leak leaking
    pipe pipes sewer drain drains blocked hole holes pothole potholes dangerous unsafe safe
    bonjour merci je tu il nous vous les des une est sont pas pour avec dans sur voudrais
    faire reclamation hola gracias buenos dias por favor el los las es que una guten tag
    danke bitte ich nicht und ist der die das nihao xiexie annyeong annyeonghaseyo
    kamsahamnida gamsahamnida arigato konnichiwa privet spasibo
    """
)
# Romanised greetings of other languages: foreign even though they look like syllables.
_FOREIGN_PHRASES = frozenset({"ni hao", "xie xie", "nee how"})
_FOREIGN_FIRST = frozenset(p.split()[0] for p in _FOREIGN_PHRASES)
_FOREIGN_LAST = frozenset(p.split()[1] for p in _FOREIGN_PHRASES)
# Words Vietnamese complaints borrow; neither evidence for nor against Vietnamese.
_LOANWORDS = _word_set(
    """
    wifi internet online karaoke camera grab shipper ship facebook zalo tiktok youtube
    livestream video metro bar showroom tour taxi container app web website email url num
    gas pin laptop tivi tv shop sale spa massage gym hotline sim vip ok oke container
    """
)

_ONSET = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|b|c|d|g|h|k|l|m|n|p|r|s|t|v|x)?"
_SYLLABLE = re.compile(_ONSET + r"[aeiouy]{1,3}(?:ch|ng|nh|c|m|n|p|t)?")
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
# A letter outside Latin (with its accents and Vietnamese's extended block).
_OTHER_SCRIPT = re.compile(r"[^\W\d_\u0000-\u036f\u1e00-\u1eff]", re.UNICODE)
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|vn|net|org|xyz|info|top|club|io|me|ly)(?:/\S*)?",
    re.I,
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_VIET_ONLY = frozenset("ăâđêôơư") | frozenset(chr(c) for c in range(0x1EA0, 0x1EFA))
# Folded teen code (only the unaccented keys: "hông" folded would turn "hỏng" into "không").
_TEEN = {k: strip_diacritics(v) for k, v in ABBREVIATIONS.items() if k.isascii()}
_TEEN |= {"ko": "khong", "k": "khong", "ok": "duoc", "oke": "duoc", "thank": "thank"}
_TEEN.pop("thanks", None)  # "thank you", "thanks": English thanks, kept as written
_TEEN.pop("a", None)  # "ạ", "à" fold to "a": a particle, not "anh"
_AFTER_NUMBER = frozenset({"k", "tr", "m", "d", "h", "p", "ty"})  # "500k", "2tr", "24h"
_MAX_SMALL_TALK = 30  # words: longer messages are never small talk or a survey question


def _phrases(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(p.split()) for p in text.replace("\n", " ").split("|") if p.strip())


_CATEGORIES: dict[str, frozenset[tuple[str, ...]]] = {
    "greet": _phrases(_GREET),
    "greet_ctx": _phrases(_GREET_CONTEXT),
    "thanks": _phrases(_THANKS) | {("thank",), ("tks",)},
    "thanks_ctx": _phrases(_THANKS_CONTEXT),
    "filler": _phrases(_FILLER),
    "topic": _phrases(_SURVEY_TOPIC),
    "cue": _phrases(_SURVEY_CUE),
    "function": _phrases(_SURVEY_FUNCTION),
}
_LEXICON: dict[tuple[str, ...], frozenset[str]] = {}
for _name, _set in _CATEGORIES.items():
    for _phrase in _set:
        _LEXICON[_phrase] = _LEXICON.get(_phrase, frozenset()) | {_name}
_LONGEST = max(len(p) for p in _LEXICON)
_SMALL_TALK = frozenset({"greet", "greet_ctx", "thanks", "thanks_ctx", "filler"})
_SURVEY = frozenset({"greet", "thanks", "filler", "topic", "cue", "function", "greet_ctx"})


def detect(text: str | None) -> str:
    """The kind of ``text``: one of :data:`KINDS`. Total: any input gives an answer."""
    if not text:
        return EMPTY
    return _detect(clean(text)[:MAX_CHARS]) if len(text) > 200 else _detect_short(clean(text))


def is_complaint(text: str | None) -> bool:
    return detect(text) == COMPLAINT


def _detect(text: str) -> str:
    if _OTHER_SCRIPT.search(text) is not None:
        other = len(_OTHER_SCRIPT.findall(text))
        if 2 * other >= len(_LETTER.findall(text)):  # Chinese, Korean, Thai, Cyrillic ... mostly
            return FOREIGN
    has_url = _URL.search(text) is not None
    has_phone = _PHONE.search(text) is not None
    lowered = text.lower()
    if has_url or "@" in lowered:
        lowered = _EMAIL.sub(" email ", _URL.sub(" url ", lowered))
    folded: list[str] = []
    marked: set[str] = set()
    for word in _WORD.findall(lowered):
        bare, is_marked = _fold_word(word)
        folded.append(bare)
        if is_marked:
            marked.add(bare)
    words = _expand(folded)
    if not any(w.isalpha() for w in words):
        return EMPTY
    joined = " ".join("num" if w.isdigit() else w for w in words)
    if _is_spam(joined, has_url, has_phone):
        return SPAM
    if len(words) <= _MAX_SMALL_TALK:
        found = _segment(words)
        kind = _small_talk(words, found) if found is not None else None
        if kind is not None:
            return kind
    return _language(words, marked)


_detect_short = lru_cache(maxsize=4096)(_detect)


@lru_cache(maxsize=16384)
def _fold_word(word: str) -> tuple[str, bool]:
    """A word without diacritics and emphasis ("quáaaa" -> "qua"), and whether it was written
    with letters or tone marks only Vietnamese uses. Cached: citizens' vocabulary is small."""
    if word.isascii():
        return _REPEATS.sub(r"\1", word), False
    return _REPEATS.sub(r"\1", strip_diacritics(word)), any(c in _VIET_ONLY for c in word)


def _expand(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        expanded = _TEEN.get(word)
        if expanded is None or (out and out[-1].isdigit() and word in _AFTER_NUMBER):
            out.append(word)
        else:
            out.extend(expanded.split())
    return out


def _segment(words: list[str]) -> list[frozenset[str]] | None:
    """The categories of the longest known phrases, left to right; None as soon as a word
    fits none (something of substance: not small talk)."""
    found: list[frozenset[str]] = []
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            cats = _LEXICON.get(tuple(words[i : i + size]))
            if cats is not None:
                found.append(cats)
                i += size
                break
        else:
            return None
    return found


def _small_talk(words: list[str], found: list[frozenset[str]]) -> str | None:
    """Greeting, thanks or survey question, from the categories of all the words, or None."""
    greet = any("greet" in c for c in found)
    thanks = any("thanks" in c for c in found)
    if all(c & _SMALL_TALK for c in found):
        # Context words count only beside the word they serve: "đã hỗ trợ" alone is not thanks.
        usable = all(
            c & {"greet", "thanks", "filler"}
            or ("thanks_ctx" in c and thanks)
            or ("greet_ctx" in c and (greet or thanks))
            for c in found
        )
        if usable and thanks:
            return THANKS
        if usable and greet:
            return GREETING
        if usable and not any(c & {"topic"} for c in found):
            addressed = any(w in _ADDRESS for w in words) or "ad oi" in " ".join(words)
            return GREETING if addressed else EMPTY
    if any("topic" in c for c in found) and all(c & _SURVEY for c in found):
        return SURVEY_QUESTION  # no "?" needed: "đánh giá ở đâu" asks without one
    return None


def _is_spam(joined: str, has_url: bool, has_phone: bool) -> bool:
    if _OFFER.search(joined) is None or _GRIEVANCE.search(joined) is not None:
        return False
    offers = len(set(_OFFER.findall(joined)))
    channel = has_url or has_phone or _CHANNEL.search(joined) is not None
    money = _MONEY.search(joined) is not None
    return channel and offers + money + has_url + has_phone >= 2


def _language(words: list[str], marked: set[str]) -> str:
    """Vietnamese (a complaint), another language, or keyboard mash (spam)."""
    vi = foreign = invalid = 0
    if _FOREIGN_FIRST.intersection(words):
        pairs = {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
        if _FOREIGN_PHRASES & pairs:  # "ni hao": two syllables, but not Vietnamese
            foreign += 2
            words = [w for w in words if w not in _FOREIGN_FIRST and w not in _FOREIGN_LAST]
    for word in words:
        if word in marked:  # written with Vietnamese letters or tone marks
            vi += 1
            continue
        kind = _word_kind(word)
        if kind == _VI:
            vi += 1
        elif kind == _NOT_VI:
            foreign += 1
        elif kind == _UNKNOWN:
            invalid += 1
    if foreign and foreign + invalid > vi:
        return FOREIGN
    if not marked and invalid and invalid >= 2 * vi:
        return SPAM  # random characters
    return COMPLAINT


_VI, _NOT_VI, _UNKNOWN, _NEUTRAL = range(4)


@lru_cache(maxsize=16384)
def _word_kind(word: str) -> int:
    """A folded word's evidence: a Vietnamese syllable, a foreign word, neither (keyboard
    mash, a rare loanword), or no evidence (digits, common loanwords, "my", "to", "an" which
    are words in both)."""
    if not word.isalpha() or word in _LOANWORDS:
        return _NEUTRAL
    syllable = _SYLLABLE.fullmatch(word) is not None
    if word in _FOREIGN_WORDS:
        return _NEUTRAL if syllable else _NOT_VI
    return _VI if syllable else _UNKNOWN
