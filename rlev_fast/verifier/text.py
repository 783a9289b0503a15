"""Bytes and characters: named character codes, ASCII classes, the unicode normalization pass.

The verifier works on UTF-8 bytes (lone surrogates encoded with "surrogatepass"), so that the C++
twin (csrc/text.cpp) sees the same input at the same offsets. Indexing bytes gives ints; the names
below are those ints, written as the characters they are.
"""
import re

from .tables import INVISIBLE_RANGES, UNICODE_FORMS_B

TAB, NEWLINE, CR, SPACE = b"\t\n\r "
BANG, DQUOTE, HASH, DOLLAR, PERCENT, AMP, QUOTE, LPAREN, RPAREN, STAR, PLUS, COMMA, MINUS, DOT, SLASH = \
    b"!\"#$%&'()*+,-./"
COLON, SEMI, LESS, EQUALS, GREATER, QMARK = b":;<=>?"
LBRACKET, BACKSLASH, RBRACKET, CARET, UNDERSCORE, BACKTICK = b"[\\]^_`"
LBRACE, BAR, RBRACE, TILDE = b"{|}~"
ZERO, NINE, UPPER_A, UPPER_E, UPPER_J, UPPER_Z, LOWER_A, LOWER_E, LOWER_Z = b"09AEJZaez"

DIGITS = frozenset(b"0123456789")
LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
SPACES = frozenset(b" \t\n\r\f\v")


def isdigit(c):
    return ZERO <= c <= NINE


def isalpha(c):
    return (UPPER_A <= c <= UPPER_Z) or (LOWER_A <= c <= LOWER_Z)


def isupper(c):
    return UPPER_A <= c <= UPPER_Z


def islower(c):
    return LOWER_A <= c <= LOWER_Z


def isspace(c):
    return c in SPACES


def lower(c):
    return c + (LOWER_A - UPPER_A) if UPPER_A <= c <= UPPER_Z else c


def lower_bytes(t):
    return t.lower()  # ASCII only, like the C++ loop


def letters_end(s, j, n):
    """The first index >= j of s[:n] that is not an ASCII letter (the end of a command or word)."""
    while j < n and isalpha(s[j]):
        j += 1
    return j


def skip_spaces(s, i, n):
    """The first index >= i of s[:n] that is not a space."""
    while i < n and s[i] == SPACE:
        i += 1
    return i


def strip_ws(s):
    a = 0
    b = len(s)
    while a < b and isspace(s[a]):
        a += 1
    while b > a and isspace(s[b - 1]):
        b -= 1
    return s[a:b]


def decode_at(t, i):
    """(code point, length) of the UTF-8 sequence at t[i]; a stray or truncated byte is itself (length 1)."""
    c = t[i]
    if c < 0x80:
        return c, 1
    n = 2 if 0xC0 <= c < 0xE0 else 3 if 0xE0 <= c < 0xF0 else 4 if 0xF0 <= c < 0xF8 else 0
    if n == 0 or i + n > len(t):
        return c, 1
    cp = c & (0x7F >> n)
    for k in range(1, n):
        d = t[i + k]
        if d & 0xC0 != 0x80:
            return c, 1
        cp = (cp << 6) | (d & 0x3F)
    return cp, n


def is_invisible(cp):
    for lo, hi in INVISIBLE_RANGES:
        if lo <= cp <= hi:
            return True
    return False


def is_word_char(cp):
    """A letter of running text beyond ASCII (Latin-1 and Latin Extended, Cyrillic), not a Greek
    letter (mathematics writes those) nor a symbol."""
    return 0xC0 <= cp <= 0x24F and cp not in (0xD7, 0xF7) or 0x400 <= cp <= 0x4FF


def is_cjk(cp):
    """CJK ideographs, kana, hangul and their punctuation: text, never mathematics."""
    return 0x2E80 <= cp <= 0xA4CF or 0xAC00 <= cp <= 0xD7AF or 0xF900 <= cp <= 0xFAFF or 0xFF00 <= cp <= 0xFFEF


# ----------------------------------------------------------------------------- normalization
_FULLWIDTH_FIRST, _FULLWIDTH_LAST = 0xFF01, 0xFF5E  # full-width forms of "!".."~"
_UNI_MAP = dict(UNICODE_FORMS_B)
# The full-width block U+FF01..U+FF5E is EF BC 81..EF BC BF and EF BD 80..EF BD 9E in UTF-8.
_NORM_RE = re.compile(
    b"\\xef\\xbc[\\x81-\\xbf]|\\xef\\xbd[\\x80-\\x9e]|"
    + b"|".join(re.escape(a) for a, _ in UNICODE_FORMS_B)
    + b"|(?<!\\\\)\\\\\\\\(?=[A-Za-z])"  # a doubled backslash before a command name
)


def _norm_sub(m):
    g = m.group(0)
    if g[0] == 0xEF:  # full-width form: decode the 3-byte sequence, shift to ASCII
        cp = 0xF000 | ((g[1] & 0x3F) << 6) | (g[2] & 0x3F)
        return bytes([cp - _FULLWIDTH_FIRST + BANG])
    if g[0] == BACKSLASH:
        return b"\\"
    return _UNI_MAP[g]


def normalize_text(t):
    """Full-width forms (U+FF01..U+FF5E) to ASCII, UNICODE_FORMS, `\\\\cmd` -> `\\cmd`.

    One left-to-right pass (the C++ port is the equivalent byte loop).
    """
    return _NORM_RE.sub(_norm_sub, t)
