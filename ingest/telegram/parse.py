"""Read a Telegram channel post as a trading signal.

Channel posts are free text written by people: a side and a symbol, an entry price or zone, a stop
and one or more targets, decorated with emojis, shortcodes, markdown and chatter. Management posts
(close, close half, move the stop to break-even, cancel) act on an earlier signal, usually by
replying to it. :func:`parse_post` returns one :class:`~core.signal.Signal` or raises
:class:`~core.errors.ParseError` with a reason a trader understands; anything it cannot read with
confidence is refused, so that a post that is not a signal never trades.

Readings chosen where a post is ambiguous:

- **Symbols.** Six-letter currency pairs in any spelling (``GBP/JPY``, ``Gbp jpy``, ``#GBPJPY``),
  crypto pairs (``APE/USDT``, ``APEUSDT``; a bare coin after ``Pair:`` or ``Coin:`` gets
  ``default_crypto_quote``), and the alias table :data:`DEFAULT_ALIASES` (``GOLD`` and ``XAU/USD``
  are ``XAUUSD``, ``BTC`` is ``BTCUSDT``, ...), which ``options.aliases`` replaces.
- **Entry.** A single price is ``price``. A zone ``1930-1935`` is ``price_range=(low, high)`` and
  ``price`` is the edge the market reaches first as it moves into the zone: the high edge for a
  buy (price falls into a buy zone), the low edge for a sell. An abbreviated zone end
  (``4785-90``, ``134.30/35``) takes the leading digits of the first edge. No price and ``now`` /
  ``CMP`` / ``market`` is a market order with no price.
- **Order type.** ``buy limit`` / ``sell limit`` are LIMIT and ``buy stop`` / ``sell stop`` are STOP
  (they need a price); everything else is MARKET with the quoted price as a reference.
- **Levels.** The stop under any of its spellings (SL, S/L, S.L, Stop, Stop loss, StopLoss, ...);
  targets as TP, TP1, T.P 1, Target 1#, Take profit, Checkpoint, several on one line joined by
  ``-``, ``/``, ``&`` or ``,``. ``30 pips`` is a distance (``LevelUnit.PIPS``). ``TP: open`` /
  ``Hold`` marks a runner and adds no target. Prices after an entry with no label at all (channels
  that mark levels with emojis only) are read by where they lie: against the trade is the stop, with
  it the targets. At most ``max_targets`` targets are kept.
- **Refusals.** Levels on the wrong side of the entry, a stop further than ``max_stop_pips`` pips on
  a currency pair, a stop label with no value (``SL ???``), targets with no stop (unless
  ``require_stop_with_targets`` is off), several entries of a ladder, both sides at once,
  conditional or speculative wording (``if``, ``possible``, ``idea``).
- **Management.** Replies refer to the original post through ``position_ref`` =
  ``tg:{chat_id}:{message_id}`` of the post replied to; an opening signal carries its own ref.
  Close / close all is CLOSE (CLOSE_ALL when the post neither replies nor names a symbol: every
  position from the source). Close half / partial is CLOSE_PART with a FRACTION volume (half is
  0.5, ``30%`` is 0.3, otherwise ``partial_close_fraction``). "Close TP1" and a reply reporting a
  target hit are CLOSE_PART with ``tp_hit_close_fraction`` of what is left; a target-hit notice that
  replies to nothing is information only. Break-even / risk-free is MODIFY with
  ``sl=Level(0, PIPS)`` (no distance from each follower's own entry); "move SL to 4700" is MODIFY
  with a price stop. Cancel is CANCEL. Notices (SL hit, closed at stop, filled) are refused.
  A post with two commands ("take partials and set break-even") yields two signals from
  :func:`parse_post_all`; :func:`parse_post` returns the first.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.signal import Level, Signal

__all__ = [
    "DEFAULT_ALIASES",
    "TelegramParseOptions",
    "message_ref",
    "parse_post",
    "parse_post_all",
]

DEFAULT_ALIASES: Mapping[str, str] = {
    "GOLD": "XAUUSD",
    "XAU": "XAUUSD",
    "XAUUSD": "XAUUSD",
    "XAU/USD": "XAUUSD",
    "SILVER": "XAGUSD",
    "XAG": "XAGUSD",
    "XAG/USD": "XAGUSD",
    "US30": "US30",
    "DJ30": "US30",
    "DOW": "US30",
    "DOWJONES": "US30",
    "NAS100": "NAS100",
    "NASDAQ": "NAS100",
    "US100": "NAS100",
    "USTEC": "NAS100",
    "SPX500": "US500",
    "US500": "US500",
    "SP500": "US500",
    "GER40": "GER40",
    "DAX": "GER40",
    "BTC": "BTCUSDT",
    "BITCOIN": "BTCUSDT",
    "ETH": "ETHUSDT",
    "ETHEREUM": "ETHUSDT",
    "OIL": "USOIL",
    "USOIL": "USOIL",
    "WTI": "USOIL",
    # Persian: "ounce gold", "gold", "euro"
    "انس طلا": "XAUUSD",
    "طلا": "XAUUSD",
    "یورو": "EURUSD",
}
"""Names channels use for an instrument, mapped to the canonical symbol. BTC and ETH name the
USDT-quoted pairs, the market most signal channels trade."""


@dataclass(frozen=True, slots=True)
class TelegramParseOptions:
    """How posts are read; the defaults suit most signal channels.

    ``tp_hit_close_fraction``: the share of the remaining position closed on "close TP1" or on a
    reply reporting a target hit (``None``: such replies are information only).
    ``partial_close_fraction``: the share closed on "close partial" / "take partials" /
    "close first entries" when no amount is written.
    """

    aliases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    default_crypto_quote: str = "USDT"
    tp_hit_close_fraction: Decimal | None = Decimal("0.5")
    partial_close_fraction: Decimal = Decimal("0.5")
    max_targets: int = 6
    max_stop_pips: Decimal = Decimal(1000)
    require_stop_with_targets: bool = True


_DEFAULT_OPTIONS = TelegramParseOptions()


def message_ref(chat_id: int | str, message_id: int) -> str:
    """The reference of one post: ``tg:{chat_id}:{message_id}``."""
    return f"tg:{chat_id}:{message_id}"


# --------------------------------------------------------------------------------------------------
# Text clean-up


_CURRENCIES = frozenset(
    "USD EUR GBP JPY CHF CAD AUD NZD MXN ZAR SEK NOK DKK SGD HKD TRY PLN HUF CZK CNH RUB ILS THB XAU XAG".split()
)
_CRYPTO_QUOTES = ("USDT", "BUSD", "USDC", "BTC", "ETH", "USD")
_EXCHANGES = frozenset("binance bybit okx kucoin bitget mexc gate huobi futures spot".split())
_CRYPTO_CONTEXT = re.compile(
    r"(?<![a-z])(binance|bybit|okx|kucoin|bitget|futures|coin|crypto|usdt|sats|leverage)(?![a-z])"
)

_DIGITS = str.maketrans(
    {
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
        "\u066b": ".",  # Arabic decimal separator
        "\u060c": ",",  # Arabic comma
        "\u066c": ",",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2019": "'",
        "\u00bd": " ",
        "\u00bc": " ",
        "\u00be": " ",
    }
)
_KEEP = frozenset("@:.,-/&#%+()={}?~<>$'_\n")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_SHORTCODE = re.compile(r":[a-z][a-z0-9_+\-]*:", re.I)
_BRACKETED = re.compile(r"\[[^\]\n]*\]")
_SPLIT_DECIMAL = re.compile(r"(\d)[ \t]*\n\s*(\.\d)")
_DATE = re.compile(r"(?<![\w.])(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})(?![\w.])")
_TIME = re.compile(r"(?<![\w.:])\d{1,2}:\d{2}(?::\d{2})?(?![\w.:])")
_TIMEFRAME = re.compile(
    r"(?<![a-z0-9.])(?:[hmdw]\d{1,3}|\d{1,3}\s?(?:h|hr|hrs|hour|hours|m|min|mins|minutes|d|day|days|w)|\d{1,3}x)(?![a-z0-9])"
)
_ORDINAL = re.compile(r"(?<![a-z0-9])\d(?:st|nd|rd|th)(?![a-z])")
_TERM = re.compile(r"(?<![a-z])(?:long|short|mid)[\s-]*term(?![a-z])")
_TRAILING = re.compile(r"trailing\s*stop(?:\s*loss)?")
_TP_WORD = r"(?:take\s*-?\s*profits?|t\s?[.\-]\s?p|tp|targets?|checkpoint|tgt)"
_RUNNER = re.compile(
    rf"(?<![a-z]){_TP_WORD}\s*\(?\s*\d{{0,2}}\s*\)?\s*[:\-.=#]*\s*(?:open|hold|runner|run|close\s+all|free|final|null)(?![a-z])[^\n]*"
)
_TP_HIT_INLINE = re.compile(
    rf"(?:hit\s+{_TP_WORD}\s*\d{{0,2}}|{_TP_WORD}\s*\d{{0,2}}\s*(?:hit|smashed|reached|achieved|done))[^\n]*"
)
_ORDER_WORDS = re.compile(r"(?<![a-z])(buy|sell)\s*[-_]?\s*(limit|stop)(?![a-z])")


def _clean(text: str) -> str:
    """Lower-case, plain-ASCII-ish text with decorations replaced by spaces."""
    t = text.translate(_DIGITS)
    t = unicodedata.normalize("NFKC", t)
    t = _URL.sub(" ", t)
    t = _SHORTCODE.sub(" ", t)
    t = _BRACKETED.sub(" ", t)
    out = []
    for ch in t:
        if ch.isalnum() or ch in _KEEP:
            out.append(ch)
        elif ch.isspace():
            out.append("\n" if ch in "\n\r\u2028\u2029" else " ")
        else:
            out.append(" ")
    t = "".join(out).lower()
    # markdown underscores are not zone separators; "110.28_110.20" is
    t = re.sub(r"(?<!\d)_|_(?!\d)", " ", t)
    t = _SPLIT_DECIMAL.sub(r"\1\2", t)
    t = _DATE.sub(" ", t)
    t = _TIME.sub(" ", t)
    t = _TIMEFRAME.sub(" ", t)
    t = _ORDINAL.sub(" ", t)
    t = _TERM.sub(" ", t)
    t = _TRAILING.sub(" ", t)
    return t


# --------------------------------------------------------------------------------------------------
# Numbers


_NUM = re.compile(r"(?<!\d)(?<!\d[.,])(?<![a-z])(\d+(?:[.,]\d+)?)|(?<![\w.])(\.\d+)(?![.\d])")
_UNIT_AFTER = re.compile(r"\s*(pips?|points?|pts|%|sats?|x|usd|\$)(?![a-z])")
_JOIN = re.compile(r"\s*(?:-|_|/|~|to|و)\s*")
_LIST_JOIN = re.compile(r"\s*(?:-|/|&|,|and|\||;)\s*")


@dataclass(frozen=True, slots=True)
class _Num:
    value: Decimal
    raw: str
    start: int
    end: int
    unit: str | None  # "pips", "points", "%" ... when a unit word follows
    plus: bool  # written with a leading "+": a gain, not a level
    broken: bool  # "1 21520": a digit group where a decimal point should be


def _to_decimal(raw: str) -> Decimal | None:
    s = raw
    if "," in s:
        head, _, tail = s.partition(",")
        s = head + "." + tail
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _numbers(text: str) -> list[_Num]:
    nums: list[_Num] = []
    for m in _NUM.finditer(text):
        raw = m.group(1) or m.group(2)
        value = _to_decimal(raw)
        if value is None:
            continue
        start, end = m.start(), m.end()
        unit_m = _UNIT_AFTER.match(text, end)
        unit = None
        if unit_m:
            word = unit_m.group(1)
            unit = "pips" if word.startswith("pip") else "points" if word.startswith("po") or word == "pts" else word
        before = text[max(0, start - 2) : start].strip()
        plus = before.endswith("+")
        broken = bool(re.fullmatch(r"\d", raw) and re.match(r" \d{3,}(?![.\d])", text[end:]))
        nums.append(_Num(value, raw, start, end, unit, plus, broken))
    return nums


def _expand(first: _Num, second: _Num, tolerance: Decimal = Decimal("0.05")) -> Decimal:
    """The second of two prices, completing an abbreviated one from the first ("4785-90").

    The completed value is used only when it lies within ``tolerance`` (a share) of the first.
    """
    raw1, raw2 = first.raw.replace(",", "."), second.raw
    if "." not in raw2 and "," not in raw2 and len(raw2) < len(raw1):
        candidate = _to_decimal(raw1[: len(raw1) - len(raw2)] + raw2)
        if candidate is not None and first.value > 0 and abs(candidate - first.value) <= first.value * tolerance:
            return candidate
    return second.value


def _is_level(n: _Num) -> bool:
    return not n.plus and not n.broken and n.unit in (None, "pips", "points", "usd", "$")


# --------------------------------------------------------------------------------------------------
# Labels


_LABELS = re.compile(
    r"(?P<tp>(?<![a-z])(?:sell\s+targets?|" + _TP_WORD + r"|تی\s*پی|t(?=\d{1,2}\s*[:=\-]))"
    r"(?:[\s.(#]*(?P<idx>1[0-2]|[1-9])(?!\d)(?!\.\d+(?![.\d]))[)#.]?(?=\s*[-:#@.=>)]*\s*[\d.]))?)"
    r"|(?P<sl>(?<![a-z])(?:stop\s*[-/]?\s*los[se]|stoploss|stop|s\s?[/.\-]\s?l|sl|si(?=\s*[:.])|sp(?=\s+\d))(?![a-z])"
    r"|حد\s*ضرر|استاپ)"
    r"|(?P<side>(?<![a-z])(?:buylimit|selllimit|buystop|sellstop|buying|selling|buy|sell|long|short|bullish|bearish)"
    r"(?![a-z])|خرید|فروش)"
    r"|(?P<entry>(?<![a-z])(?:entry(?:\s*(?:price|zone|point|range))?|en|enter|entered|open\s+price)(?![a-z]))"
    r"|(?P<weak>@|(?<![a-z])(?:at|from|now|cmp|around|zone|range|price|market|instant)(?![a-z]))"
    r"|(?P<noise>(?<![a-z])(?:risk|reward|lots?(?:\s*size)?|date|id|signals?|no|number|leverage|margin|profit|period"
    r"|average|avg|bid|ask|spread|previous|ratio|rr|time|expiry|account|minimum|support|resistance|timeframe"
    r"|volume|balance|pair|coin(?:\s*name)?|currency\s*pair|symbol|instrument|copyrights?|sure|call)(?![a-z]))"
)

_SIDE_WORDS = {
    "buy": Side.BUY,
    "buying": Side.BUY,
    "long": Side.BUY,
    "bullish": Side.BUY,
    "buylimit": Side.BUY,
    "buystop": Side.BUY,
    "خرید": Side.BUY,
    "sell": Side.SELL,
    "selling": Side.SELL,
    "short": Side.SELL,
    "bearish": Side.SELL,
    "selllimit": Side.SELL,
    "sellstop": Side.SELL,
    "فروش": Side.SELL,
}


@dataclass(slots=True)
class _Slot:
    kind: str  # side, entry, weak, sl, tp, noise, none
    word: str
    start: int  # where the slot's text begins (after its label)
    end: int
    label_start: int
    index: int | None = None


def _slots(text: str) -> list[_Slot]:
    slots: list[_Slot] = [_Slot("none", "", 0, len(text), 0)]
    for m in _LABELS.finditer(text):
        kind = "none"
        for name in ("tp", "sl", "side", "entry", "weak", "noise"):
            if m.group(name) is not None:
                kind = name
                break
        prev = slots[-1]
        prev_text = text[prev.start : m.start()]
        if kind == "weak":
            # "Stop loss at 1215", "lot size 0.01 at 500 usd": a connector inside a level or an aside
            if prev.kind in ("sl", "tp") and not _numbers(prev_text):
                continue
            if prev.kind == "noise" and "\n" not in prev_text:
                continue
        elif kind == "noise" and prev.kind in ("sl", "tp") and not _numbers(prev_text):
            # "SL POINT set at", "TP : ... Reward" before any value: keep reading the level
            if m.group(0) not in ("risk", "reward", "profit"):
                continue
        prev.end = m.start()
        idx = m.group("idx")
        slots.append(_Slot(kind, m.group(0).strip(), m.end(), len(text), m.start(), int(idx) if idx else None))
    # an aside ends at the end of its line; what follows on the next lines is unlabelled
    out: list[_Slot] = []
    for slot in slots:
        if slot.kind == "noise":
            nl = text.find("\n", slot.start, slot.end)
            paren = text.find(")", slot.start, slot.end)
            cut = min(x for x in (nl, paren, slot.end) if x >= 0)
            out.append(_Slot("noise", slot.word, slot.start, cut, slot.label_start))
            if cut < slot.end:
                out.append(_Slot("none", "", cut, slot.end, cut))
        else:
            out.append(slot)
    return out


# --------------------------------------------------------------------------------------------------
# Symbols


_PAIR_SPACED = re.compile(r"(?<![a-z])(?=([a-z]{3})\s*[/\\ \-]?\s*([a-z]{3})(?![a-z]))")
_WORD = re.compile(r"#?[a-z][a-z0-9]*(?:/[a-z0-9]+)?|[\u0600-\u06ff]+(?:\s+[\u0600-\u06ff]+)?")
_CRYPTO_PAIR = re.compile(r"#?([a-z0-9]{2,10})\s*/\s*(usdt|busd|usdc|btc|eth|usd)(?![a-z])")
_LABELLED_COIN = re.compile(r"(?<![a-z])(?:pair|coin(?:\s*name)?|symbol)\s*[:\-@>=]*\s*#?([a-z0-9]{2,10})(?![a-z0-9])")
_HASHTAG = re.compile(r"#([a-z][a-z0-9]{1,9})(?![a-z0-9])")
_NOT_SYMBOLS = frozenset(
    "buy sell long short now limit stop entry tp sl free signal signals vip new trade setup update the and for"
    " with from at all".split()
)


@functools.lru_cache(maxsize=64)
def _alias_pattern(items: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    by_key = {_alias_key(name): symbol for name, symbol in items}
    names = sorted((name for name, _ in items), key=len, reverse=True)
    body = "|".join(re.escape(n.lower()).replace("/", r"\s*/\s*").replace(r"\ ", r"\s+") for n in names)
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])"), by_key


def _alias_key(name: str) -> str:
    return re.sub(r"[\s/]+", "", name.lower())


def _match_alias(text: str, aliases: Mapping[str, str]) -> tuple[str, int, int] | None:
    if not aliases:
        return None
    pattern, by_key = _alias_pattern(tuple(aliases.items()))
    m = pattern.search(text)
    if m is None:
        return None
    return by_key[_alias_key(m.group(0))], m.start(), m.end()


def _find_symbol(text: str, options: TelegramParseOptions) -> tuple[str, list[tuple[int, int]]] | None:
    """The first instrument the post names, and every span naming it (to keep its digits out of
    the prices)."""
    found: list[tuple[int, str, int, int]] = []

    for m in _CRYPTO_PAIR.finditer(text):
        base, quote = m.group(1).upper(), m.group(2).upper()
        if base in _CURRENCIES and quote in _CURRENCIES:
            found.append((m.start(), base + quote, m.start(), m.end()))
        elif not base.isdigit():
            found.append((m.start(), base + quote, m.start(), m.end()))
    for m in _PAIR_SPACED.finditer(text):
        a, b = m.group(1).upper(), m.group(2).upper()
        if a in _CURRENCIES and b in _CURRENCIES and a != b:
            found.append((m.start(1), a + b, m.start(1), m.end(2)))
    for m in re.finditer(r"(?<![a-z0-9])#?([a-z]{6,12})(?![a-z0-9])", text):
        word = m.group(1)
        a, b, rest = word[:3].upper(), word[3:6].upper(), word[6:]
        if a in _CURRENCIES and b in _CURRENCIES and a != b and (len(rest) <= 1 or rest in _SIDE_WORDS):
            found.append((m.start(), a + b, m.start(), m.start() + len(m.group(0)) - len(rest)))
            continue
        for quote in _CRYPTO_QUOTES:
            if word.upper().endswith(quote) and len(word) > len(quote) + 1 and quote not in ("USD", "ETH"):
                found.append((m.start(), word.upper(), m.start(), m.end()))
                break
    alias = _match_alias(text, options.aliases)
    if alias is not None:
        found.append((alias[1], alias[0], alias[1], alias[2]))
    if not found and _CRYPTO_CONTEXT.search(text):
        m2 = _LABELLED_COIN.search(text)
        coin = m2.group(1) if m2 and m2.group(1) not in _NOT_SYMBOLS else None
        if coin is None:
            for h in _HASHTAG.finditer(text):
                if h.group(1) not in _EXCHANGES and h.group(1) not in _NOT_SYMBOLS:
                    coin = h.group(1)
                    m2 = h
                    break
        if coin is not None and m2 is not None:
            found.append((m2.start(1), coin.upper() + options.default_crypto_quote.upper(), m2.start(1), m2.end(1)))
    if not found:
        return None
    found.sort()
    symbol = found[0][1]
    spans = [(s, e) for _, sym, s, e in found if sym == symbol]
    return symbol, spans


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for s, e in spans:
        for i in range(s, e):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


# --------------------------------------------------------------------------------------------------
# Opening signals


_HEDGE = re.compile(
    r"(?<![a-z])(possible|possibly|maybe|might|could|idea|wait\s+for|looking\s+for|watch\s+for)(?![a-z])"
)
_IF_OUTSIDE_PARENS = re.compile(r"(?<![a-z])(if|when\s+price|once)(?![a-z])")
_MARKET_WORDS = re.compile(r"(?<![a-z])(now|cmp|market|instant)(?![a-z])")
_LOT = re.compile(r"(?<![a-z])lots?(?:\s*size)?\s*[:=@-]?\s*(\d+(?:\.\d+)?)(?![\d.])")
_BLANK_VALUE = re.compile(r"^[\s:.\-=,@>]*[?~]")


def _strip_parens(text: str) -> str:
    return re.sub(r"\([^()]*\)", " ", text)


def _first_value(text: str, start: int, end: int) -> tuple[_Num | None, list[_Num]]:
    nums = [n for n in _numbers(text[start:end])]
    return (nums[0] if nums else None), nums


@dataclass(slots=True)
class _Entry:
    first: _Num
    second: _Num | None

    def values(self) -> tuple[Decimal, Decimal | None]:
        if self.second is None:
            return self.first.value, None
        return self.first.value, _expand(self.first, self.second)


def _read_entry(seg: str) -> tuple[_Entry | None, list[_Num]]:
    nums = _numbers(seg)
    levels = [n for n in nums if _is_level(n) and n.unit is None]
    if not levels:
        return None, []
    first = levels[0]
    rest = levels[1:]
    if rest:
        gap = seg[first.end : rest[0].start]
        if _JOIN.fullmatch(gap) and rest[0].start > first.end:
            return _Entry(first, rest[0]), rest[1:]
    return _Entry(first, None), rest


def _read_entry_backwards(seg: str) -> _Entry | None:
    """Numbers written before the side on its own line (right-to-left posts, "Usdchf 0.9921 sell")."""
    line = seg[seg.rfind("\n") + 1 :]
    levels = [n for n in _numbers(line) if _is_level(n) and n.unit is None]
    if not levels:
        return None
    last = levels[-1]
    if len(levels) >= 2 and _JOIN.fullmatch(line[levels[-2].end : last.start]):
        return _Entry(levels[-2], last)
    return _Entry(last, None)


def _read_targets(seg: str, cap: int) -> list[_Num]:
    nums = _numbers(seg)
    out: list[_Num] = []
    for n in nums:
        if not out:
            if n.broken:
                return []
            if not _is_level(n):
                continue
            out.append(n)
            continue
        prev = out[-1]
        gap = seg[prev.end : n.start]
        if (prev.unit is None or prev.unit in ("usd", "$")) and _LIST_JOIN.fullmatch(gap) and _is_level(n):
            if n.unit is None or n.unit == prev.unit:
                out.append(n)
                continue
        break
    if len(out) > 1:
        expanded = [out[0]]
        for n in out[1:]:
            value = _expand(out[0], n, Decimal("0.5"))
            expanded.append(replace(n, value=value))
        out = expanded
    return out[:cap]


def _level(n: _Num) -> Level:
    if n.unit == "pips":
        return Level(n.value, LevelUnit.PIPS)
    if n.unit == "points":
        return Level(n.value, LevelUnit.POINTS)
    return Level(n.value)


_MAJORS = frozenset("USD EUR GBP JPY CHF CAD AUD NZD".split())


def _pip_size(symbol: str) -> Decimal | None:
    """The pip of a pair of major currencies; ``None`` for anything else (exotics move in bigger steps)."""
    if len(symbol) != 6 or symbol[:3] not in _MAJORS or symbol[3:] not in _MAJORS:
        return None
    return Decimal("0.01") if symbol.endswith("JPY") else Decimal("0.0001")


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _parse_open(
    cleaned: str, symbol: str | None, spans: list[tuple[int, int]], opts: TelegramParseOptions
) -> Signal | None:
    """An opening signal, or ``None`` when the post names no side."""
    text = _blank(cleaned, spans) if symbol is not None else cleaned
    text = _RUNNER.sub(" ", text)
    text = _TP_HIT_INLINE.sub(" ", text)
    order_type = OrderType.MARKET
    om = _ORDER_WORDS.search(text)
    if om:
        order_type = OrderType.LIMIT if om.group(2) == "limit" else OrderType.STOP
        text = _ORDER_WORDS.sub(r"\1\2", text)
    slots = _slots(text)
    side_slots = [s for s in slots if s.kind == "side"]
    if not side_slots:
        return None
    if symbol is None:
        raise ParseError("no symbol found", field="symbol")
    if _HEDGE.search(text) or _IF_OUTSIDE_PARENS.search(_strip_parens(text)):
        raise ParseError("conditional or speculative wording: not a firm signal", field="text")

    entries: list[tuple[_Slot, _Entry]] = []
    unlabelled: list[_Num] = []
    sl_num: _Num | None = None
    sl_blank = False
    tps: list[_Num] = []
    side: Side | None = None
    for slot in slots:
        seg = text[slot.start : slot.end]
        if slot.kind in ("side", "entry", "weak"):
            if slot.kind == "side":
                this_side = _SIDE_WORDS[slot.word.replace(" ", "")]
                if side is None:
                    side = this_side
            entry, rest = _read_entry(seg)
            if entry is not None:
                if slot.kind == "side" and _SIDE_WORDS[slot.word.replace(" ", "")] is not side:
                    raise ParseError("the post gives both a buy and a sell", field="side")
                entries.append((slot, entry))
            unlabelled.extend(n for n in rest if _is_level(n) and n.unit is None)
        elif slot.kind == "sl":
            if sl_num is not None:
                continue
            first, _ = _first_value(text, slot.start, slot.end)
            if _BLANK_VALUE.match(seg) or first is None or first.broken or not _is_level(first):
                sl_blank = sl_blank or first is None or first.broken or bool(_BLANK_VALUE.match(seg))
                continue
            sl_num = first
        elif slot.kind == "tp":
            tps.extend(_read_targets(seg, opts.max_targets))
        elif slot.kind == "none" and entries:
            unlabelled.extend(n for n in _numbers(seg) if _is_level(n) and n.unit is None)
    assert side is not None
    if not entries:
        first_side = side_slots[0]
        at = slots.index(first_side)
        if at > 0 and slots[at - 1].kind == "none":
            back = _read_entry_backwards(text[slots[at - 1].start : first_side.label_start])
            if back is not None:
                entries.append((first_side, back))

    distinct = {e.values() for _, e in entries}
    if len(distinct) > 1:
        raise ParseError("several entries (a ladder of orders) are not supported", field="entry")
    entry = entries[0][1] if entries else None
    price: Decimal | None = None
    price_range: tuple[Decimal, Decimal] | None = None
    if entry is not None:
        a, b = entry.values()
        if b is None or a == b:
            price = a
        else:
            low, high = min(a, b), max(a, b)
            price_range = (low, high)
            price = high if side is Side.BUY else low

    # levels marked only by emojis: read them by where they lie
    if price is not None and (sl_num is None or not tps) and unlabelled and not sl_blank:
        low_edge = price_range[0] if price_range else price
        high_edge = price_range[1] if price_range else price
        against = [n for n in unlabelled if (n.value < low_edge if side is Side.BUY else n.value > high_edge)]
        with_ = [n for n in unlabelled if (n.value > high_edge if side is Side.BUY else n.value < low_edge)]
        if sl_num is None and len(against) == 1:
            sl_num = against[0]
        if not tps and with_:
            tps = with_[: opts.max_targets]
    tps = tps[: opts.max_targets]

    if sl_blank and sl_num is None:
        raise ParseError("the stop-loss is written but has no value", field="sl")
    if price is None and order_type is not OrderType.MARKET:
        raise ParseError(f"a {order_type.value} order needs a price", field="entry")
    if opts.require_stop_with_targets and tps and sl_num is None:
        raise ParseError("targets are given but no stop-loss", field="sl")

    sl = _level(sl_num) if sl_num is not None else None
    tp_levels = tuple(_level(n) for n in tps)
    _check_levels(symbol, side, price, price_range, sl, tp_levels, opts)

    volume = None
    lot = _LOT.search(cleaned)
    if lot and len(_LOT.findall(cleaned)) == 1:
        volume = _to_decimal(lot.group(1))
        if volume is not None and volume <= 0:
            volume = None
    return Signal(
        source="",
        action=Action.OPEN,
        symbol=symbol,
        side=side,
        order_type=order_type,
        volume=volume,
        volume_kind=VolumeKind.LOTS,
        price=price,
        price_range=price_range,
        sl=sl,
        tps=tp_levels,
    )


def _check_levels(
    symbol: str,
    side: Side,
    price: Decimal | None,
    price_range: tuple[Decimal, Decimal] | None,
    sl: Level | None,
    tps: tuple[Level, ...],
    opts: TelegramParseOptions,
) -> None:
    if price is None:
        return
    low, high = price_range if price_range else (price, price)
    word = side.value
    if sl is not None and sl.unit is LevelUnit.PRICE:
        if (side is Side.BUY and sl.value >= high) or (side is Side.SELL and sl.value <= low):
            where = "below" if side is Side.BUY else "above"
            raise ParseError(
                f"levels do not fit a {word}: the stop-loss {_fmt(sl.value)} is not {where} the entry {_fmt(price)}",
                field="sl",
            )
        pip = _pip_size(symbol)
        if pip is not None:
            distance = abs(price - sl.value) / pip
            if distance > opts.max_stop_pips:
                raise ParseError(
                    f"the stop-loss is {_fmt(distance.quantize(Decimal(1)))} pips from the entry; "
                    f"more than {_fmt(opts.max_stop_pips)} is taken for a misprint",
                    field="sl",
                )
    for tp in tps:
        if tp.unit is not LevelUnit.PRICE:
            continue
        if (side is Side.BUY and tp.value <= low) or (side is Side.SELL and tp.value >= high):
            where = "above" if side is Side.BUY else "below"
            raise ParseError(
                f"levels do not fit a {word}: the target {_fmt(tp.value)} is not {where} the entry {_fmt(price)}",
                field="tps",
            )


# --------------------------------------------------------------------------------------------------
# Management posts


_NUMBER = r"(\d+(?:[.,]\d+)?)"
_SL_WORD = r"(?:stop\s*-?\s*loss|stoploss|stop|sl|s/l)"
_M_SL_HIT = re.compile(
    rf"(?<![a-z]){_SL_WORD}\s+(?:was\s+|got\s+|has\s+been\s+|is\s+)?(?:hit|triggered|taken|reached)"
    rf"|(?<![a-z])hit\s+(?:the\s+|our\s+|my\s+)?{_SL_WORD}(?![a-z])|stopped\s+out"
)
_M_CANCEL = re.compile(
    r"(?<![a-z])(cancel(?:l?ed)?|cancel(?:l?ing)?|delete\s+(?:the\s+|all\s+)?(?:pending|limit|order)"
    r"|remove\s+(?:the\s+|all\s+)?(?:pending|limit|order))"
)
_M_CLOSED_INFO = re.compile(
    rf"(?<![a-z])closed\s+(?:at|by|on|in)\s+(?:the\s+)?(?:{_SL_WORD}|tp\d*|take\s*-?\s*profit|target|break\s*-?\s*even|be|entry|profit|loss)(?![a-z])"
)
_M_FILLED = re.compile(
    r"(?<![a-z])(filled|entry\s+targets?\s+(?:achieved|hit|reached|done)|activated|triggered)(?![a-z])"
)
_M_CLOSE_TP = re.compile(rf"(?<![a-z])clos\w*\s+(?:at\s+|on\s+)?{_TP_WORD}\s*(\d{{0,2}})")
_M_PARTIAL = re.compile(
    r"(?<![a-z])(?:clos\w*|tak\w*|secur\w*|book\w*)\s+(?:some\s+|my\s+|the\s+|your\s+)?"
    r"(half|partials?|part|some(?:\s+profits?)?|(\d{1,3})\s*%|first\s+(?:en\w*|one|position|trade)s?|first)"
    r"(?![a-z])"
)
_M_CLOSE = re.compile(
    r"(?<![a-z])(?:close[ds]?|closing|exit|get\s+out)(?:\s+(?:all|everything|the\s+rest|rest|remaining|it|now|"
    r"this|the|trade|trades|position|positions|full|due|manually|your|my|our|at\s+market)\b|\s*$|\s*[.!\n])"
)
_M_BE = re.compile(
    r"(?<![a-z])(break\s*-?\s*even|risk\s*-?\s*free|0\s*%\s*risk|zero\s+risk|no\s+risk)(?![a-z])"
    rf"|{_SL_WORD}\s+(?:to|at|@)\s+(?:be|entry|entry\s+price|open\s+price)(?![a-z])"
)
_M_MOVE = re.compile(r"(?<![a-z])(move|moving|set|change|put|make|adjust|trail|update|place|modify|new)(?![a-z])")
_VERB = r"(?:move|moving|set|change|put|make|adjust|trail|update|place|modify|new)"
_END = r"(?!\d|[.,]\d)"
_M_SL_PRICE = re.compile(
    rf"(?<![a-z]){_SL_WORD}\s+to\s+{_NUMBER}{_END}"
    rf"|(?<![a-z]){_VERB}\s+(?:the\s+|your\s+|our\s+|my\s+)?{_SL_WORD}\s*(?:to|at|@|:|=)?\s*{_NUMBER}{_END}"
)
_M_ENTRY_PRICE = re.compile(
    rf"(?<![a-z])entry\s+to\s+{_NUMBER}{_END}|(?<![a-z]){_VERB}\s+(?:the\s+|your\s+)?entry\s*(?:to|at|@|:|=)?\s*{_NUMBER}{_END}"
)
_M_TP_PRICE = re.compile(
    rf"(?<![a-z])(?:tp|take\s*profit|target)\s*\d?\s+to\s+{_NUMBER}{_END}"
    rf"|(?<![a-z]){_VERB}\s+(?:the\s+|your\s+)?(?:tp|take\s*profit|target)\s*\d?\s*(?:to|at|@|:|=)?\s*{_NUMBER}{_END}"
)
_M_TP_HIT = re.compile(
    rf"(?<![a-z]){_TP_WORD}\s*-?\s*(?:target\s*)?\d{{0,2}}\s*(?:was\s+|got\s+|has\s+been\s+|is\s+)?"
    r"(?:hit|smashed|reached|achieved|done|secured|booked|✅)"
    rf"|(?<![a-z])hit\s+{_TP_WORD}|(?<![a-z])take-?profit\s+target"
)


def _parse_management(
    cleaned: str, symbol: str | None, ref: str | None, is_reply: bool, opts: TelegramParseOptions
) -> list[Signal]:
    text = cleaned
    if _IF_OUTSIDE_PARENS.search(text) and (_M_CLOSE.search(text) or _M_MOVE.search(text) or _M_PARTIAL.search(text)):
        raise ParseError("a conditional instruction: not acted on until the provider confirms it", field="text")

    base = Signal(source="", action=Action.MODIFY, symbol=symbol, position_ref=ref)
    if _M_SL_HIT.search(text):
        raise ParseError("information only: the stop-loss was hit", field="text")
    if _M_CANCEL.search(text):
        return [replace(base, action=Action.CANCEL)]
    if _M_CLOSED_INFO.search(text):
        raise ParseError("information only: the trade was closed by its own stop or target", field="text")

    out: list[Signal] = []
    close_tp = _M_CLOSE_TP.search(text)
    partial = _M_PARTIAL.search(text)
    if close_tp and opts.tp_hit_close_fraction is not None:
        out.append(_partial(base, opts.tp_hit_close_fraction))
    elif partial:
        amount = partial.group(1)
        if amount == "half":
            fraction = Decimal("0.5")
        elif partial.group(2):
            fraction = Decimal(partial.group(2)) / 100
            if not 0 < fraction <= 1:
                raise ParseError(f"cannot close {partial.group(2)}% of a position", field="volume")
        else:
            fraction = opts.partial_close_fraction
        out.append(_partial(base, fraction))
    elif _M_CLOSE.search(text) and not _M_FILLED.search(text):
        if ref is None and symbol is None:
            out.append(replace(base, action=Action.CLOSE_ALL))
        else:
            out.append(replace(base, action=Action.CLOSE))

    if _M_BE.search(text):
        out.append(replace(base, sl=Level(Decimal(0), LevelUnit.PIPS)))
    elif _M_MOVE.search(text):
        sl_m = _M_SL_PRICE.search(text)
        entry_m = _M_ENTRY_PRICE.search(text)
        tp_m = _M_TP_PRICE.search(text)
        if sl_m or entry_m or tp_m:
            out.append(
                replace(
                    base,
                    sl=Level(_dec(sl_m.group(1) or sl_m.group(2))) if sl_m else None,
                    price=_dec(entry_m.group(1) or entry_m.group(2)) if entry_m else None,
                    tps=(Level(_dec(tp_m.group(1) or tp_m.group(2))),) if tp_m else (),
                )
            )
    if out:
        return out

    if _M_FILLED.search(text):
        raise ParseError("information only: the entry was filled", field="text")
    if _M_TP_HIT.search(text):
        if is_reply and opts.tp_hit_close_fraction is not None:
            return [_partial(base, opts.tp_hit_close_fraction)]
        raise ParseError("information only: a target was hit (not a reply to a signal)", field="text")
    if is_reply:
        levels = _reply_levels(text)
        if levels is not None:
            sl, tps = levels
            return [replace(base, sl=sl, tps=tps)]
    return []


def _partial(base: Signal, fraction: Decimal) -> Signal:
    return replace(base, action=Action.CLOSE_PART, volume=fraction, volume_kind=VolumeKind.FRACTION)


def _dec(raw: str) -> Decimal:
    value = _to_decimal(raw)
    if value is None:  # the patterns only capture digits
        raise ParseError(f"unreadable number {raw!r}")
    return value


def _reply_levels(text: str) -> tuple[Level | None, tuple[Level, ...]] | None:
    """Stop and targets sent as a reply that completes an earlier alert ("details later")."""
    slots = _slots(_RUNNER.sub(" ", text))
    sl: Level | None = None
    tps: list[Level] = []
    for slot in slots:
        seg = text[slot.start : slot.end]
        if slot.kind == "sl" and sl is None:
            first, _ = _first_value(text, slot.start, slot.end)
            if first is not None and _is_level(first):
                sl = _level(first)
        elif slot.kind == "tp":
            tps.extend(_level(n) for n in _read_targets(seg, 6))
    if sl is None and not tps:
        return None
    return sl, tuple(tps)


# --------------------------------------------------------------------------------------------------
# Entry points

_MANAGEMENT_FIRST = re.compile(
    r"\s*(?:please\s+|pls\s+|now\s+|guys\s*,?\s+)?(close|cancel|move|set|exit|take\s+partial)(?![a-z])"
)
_UPDATE = re.compile(r"(?<![a-z])(update|updated)(?![a-z])")


def parse_post_all(
    text: str,
    *,
    source: str,
    chat_id: int | str,
    message_id: int,
    reply_to: int | None = None,
    options: TelegramParseOptions | None = None,
) -> list[Signal]:
    """Every signal a post carries (one, or two for a compound management post).

    Raises :class:`ParseError` when the post is not a signal. Each signal has ``origin_id``
    ``tg:{chat_id}:{message_id}`` (a second command in the same post adds ``#2``) and ``raw`` the
    post's text.
    """
    if not isinstance(text, str):
        raise ParseError("the post has no text", field="text")
    opts = options or _DEFAULT_OPTIONS
    if not text.strip():
        raise ParseError("the post is empty", field="text")
    own_ref = message_ref(chat_id, message_id)
    reply_ref = message_ref(chat_id, reply_to) if reply_to is not None else None
    cleaned = _clean(text)
    found = _find_symbol(cleaned, opts)
    symbol, spans = (found[0], found[1]) if found else (None, [])

    signals: list[Signal] = []
    management_first = bool(_MANAGEMENT_FIRST.match(cleaned))
    if _UPDATE.search(cleaned):
        # an update to an earlier trade is never a new one
        signals = _parse_management(cleaned, symbol, reply_ref, reply_to is not None, opts)
        if not signals:
            raise ParseError("an update to an earlier trade with no command in it", field="text")
        return _finish(signals, own_ref, source, text)
    opened: Signal | None = None
    if not management_first:
        opened = _parse_open(cleaned, symbol, spans, opts)
    if opened is not None:
        signals = [replace(opened, position_ref=own_ref)]
    else:
        signals = _parse_management(cleaned, symbol, reply_ref, reply_to is not None, opts)
        if not signals and management_first:
            opened = _parse_open(cleaned, symbol, spans, opts)
            if opened is not None:
                signals = [replace(opened, position_ref=own_ref)]
    if not signals:
        raise ParseError("not a signal: no side and no management command", field="text")
    return _finish(signals, own_ref, source, text)


def _finish(signals: list[Signal], own_ref: str, source: str, text: str) -> list[Signal]:
    out: list[Signal] = []
    for i, sig in enumerate(signals):
        origin = own_ref if i == 0 else f"{own_ref}#{i + 1}"
        out.append(replace(sig, source=source, origin_id=origin, raw=text))
    return out


def parse_post(
    text: str,
    *,
    source: str,
    chat_id: int | str,
    message_id: int,
    reply_to: int | None = None,
    options: TelegramParseOptions | None = None,
) -> Signal:
    """Read one channel post as a :class:`Signal`, or raise :class:`ParseError` saying why not.

    ``reply_to`` is the id of the post this one replies to (management posts act on it).
    A compound management post returns its first command; use :func:`parse_post_all` for all.
    """
    return parse_post_all(
        text, source=source, chat_id=chat_id, message_id=message_id, reply_to=reply_to, options=options
    )[0]
