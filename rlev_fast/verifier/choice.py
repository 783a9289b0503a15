"""Multiple choice: the choice letters an answer names, and whether it hedges between them.
Twin of csrc/choice.cpp.

A gold answer that is only letters and separators ("B", "(B)", "\\text{C}", "ACD", "A, C, D") makes the
comparison a comparison of letter sets; "A or B", "A/B" and "A或B" in a response are hedges.
"""
from .caps import MAX_CHOICE_LETTERS
from .tables import AND_CJK, MC_LEAD, MC_SKIP_CMDS, OR_CJK
from .text import BACKSLASH, BAR, LOWER_A, SLASH, UPPER_A, UPPER_J, isalpha, islower, isspace, isupper, letters_end, lower


def mc_letters(s, strict):
    """Choice letters in an answer: (bitmask, hedged) or None.

    strict (the gold side): the whole answer must be letters and separators. Letters in a formula
    ("A = B", "B < C", "A \\neq B") are no choice.
    """
    n = len(s)
    i = 0
    mask = 0
    hedge = False
    pending_or = False
    nletters = 0
    stopped = formula = False
    while i < n:
        c = s[i]
        if c == BACKSLASH:
            j = letters_end(s, i + 1, n)
            name = s[i + 1:j]
            if j == i + 1:
                if j < n and s[j] in b',;! ()[]':
                    i = j + 1
                    continue
                stopped = True
                break
            if name in MC_SKIP_CMDS:
                i = j
                continue
            stopped = formula = True  # "A \\neq B", "A \\approx D": a formula, not a choice
            break
        if isalpha(c):
            j = letters_end(s, i, n)
            w = s[i:j]
            lw = w.lower()
            ok_group = False
            if len(w) == 1 and isupper(c):
                ok_group = True
            elif len(w) == 1 and islower(c) and not strict:
                ok_group = True
            elif 2 <= len(w) <= MAX_CHOICE_LETTERS and w == w.upper():
                ok_group = True
                seen = 0
                for ch in w:
                    bit = 1 << (ch - UPPER_A)
                    if ch > UPPER_J or (seen & bit):
                        ok_group = False
                        break
                    seen |= bit
            if ok_group and (lw == b"or" or lw == b"and"):
                ok_group = False
            if ok_group:
                if pending_or and nletters > 0:
                    hedge = True
                pending_or = False
                for ch in w:
                    mask |= 1 << (lower(ch) - LOWER_A)
                nletters += 1
                i = j
                continue
            if lw == b"and":
                i = j
                continue
            if lw == b"or":
                pending_or = True
                i = j
                continue
            if nletters == 0 and lw in MC_LEAD:
                i = j
                continue
            stopped = True
            break
        if s.startswith(AND_CJK, i):
            i += len(AND_CJK)
            continue
        if s.startswith(OR_CJK, i):
            pending_or = True
            i += len(OR_CJK)
            continue
        if c == SLASH or c == BAR:  # "A/B", "A|B"
            pending_or = True
            i += 1
            continue
        if isspace(c) or c in b',;()[]{}$*&+:."\'':
            i += 1
            continue
        stopped = True
        formula = c in b"=<>^_"
        break
    if nletters == 0 or mask == 0 or formula:
        return None
    if pending_or and stopped:
        hedge = True  # "E or 7": an alternative that is not a letter is still an alternative
    if strict:
        if stopped or hedge:
            return None
    return mask, hedge
