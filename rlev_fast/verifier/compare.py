"""Comparison: whether two parsed answers are equal. Twin of csrc/compare.cpp.

Sets and bare lists compare unordered, tuples in order, intervals with their ends, matrices cell by
cell (also against matrix arithmetic), relations up to a factor, arithmetic exactly (rationals) or
numerically (doubles, sampled points for variables); \\pm expands to one element per sign. The loose
text form (norm_text) compares answers that are text.
"""
from .caps import FIXED, MAX_ELEMS, MAX_MAT_CELLS, MAX_MAT_DEPTH
from .evaluate import Abort
from .parse import CONTAINERS, Node, arith, is_const, name_like
from .tables import (N_ADD, N_CHAIN, N_EQ, N_INF, N_IVL, N_MAT, N_MUL, N_NEG, N_PM, N_REL, N_SEQ, N_SET, N_SUB,
                     N_TEXT, N_TUPLE, N_UNION, NORM_SKIP_CMDS, O_GE, O_GT, O_NE, TEXT_CMDS, UNWRAP_CMDS)
from .values import approx_true, expr_eq, rel_eq
from .text import BACKSLASH, DOLLAR, DOT, LBRACE, RBRACE, SPACE, UPPER_A, isalpha, isdigit, isspace, letters_end, lower


def pm_ids(e):
    ids = []
    stack = [e]
    while stack:
        x = stack.pop()
        if x.kind == N_PM:
            ids.append(x.op)
        stack.extend(x.kids)
    ids.sort()
    return ids


def elements(e, out, ctx):
    """Flatten a list/set for unordered comparison: \\pm expressions give one element per sign."""
    for k in e.kids:
        ctx.step()
        if len(out) > MAX_ELEMS:
            raise Abort()
        if arith(k):
            ids = pm_ids(k)
            if ids:
                for m in range(1 << len(ids)):
                    mask = FIXED
                    for bi, pid in enumerate(ids):
                        if (m >> bi) & 1:
                            mask |= 1 << pid
                    out.append((k, mask))
                continue
        out.append((k, FIXED))


def expand(e, m, ctx):
    """One element per sign choice of an arithmetic expression whose \\pm signs are not fixed yet."""
    if m & FIXED:
        return [(e, m)]
    out = []
    elements(Node(N_SEQ, [e]), out, ctx)
    return out


def unordered_eq(xs, ys, ctx):
    """Set equality: every element of each side equals some element of the other side."""
    if not xs or not ys:
        return not xs and not ys
    # the calls in the C++ twin's order (ctx counts them)
    return all(any(node_eq(a, ma, b, mb, ctx) for b, mb in ys) for a, ma in xs) and \
        all(any(node_eq(a, ma, b, mb, ctx) for a, ma in xs) for b, mb in ys)


def as_elems(e, ctx):
    out = []
    if e.kind in (N_SET, N_SEQ):
        elements(e, out, ctx)
    else:
        holder = Node(N_SEQ, [e])
        elements(holder, out, ctx)
    return out


def rel_to_interval(e):
    """x > 5 -> (5, inf); 5 >= x -> (-inf, 5]; None when not `name op value`."""
    a, b = e.kids
    op = e.op
    if op not in (O_GT, O_GE):
        return None
    closed = op == O_GE
    if name_like(a) and is_const(b):
        iv = Node(N_IVL, [b, Node(N_INF)])
        iv.op = 1 if closed else 0
        return iv
    if name_like(b) and is_const(a):
        iv = Node(N_IVL, [Node(N_NEG, [Node(N_INF)]), a])
        iv.op = 2 if closed else 0
        return iv
    return None


def mk(kind, kids):
    r = Node(kind, kids)
    r.depth = 1 + max(k.depth for k in kids)
    return r


def mat_value(e, depth):
    """The cells (rows of nodes) of a matrix expression: a matrix, -M, M + N, M - N, c M, M c and M N
    for compatible shapes of at most MAX_MAT_CELLS cells, the cells left as expressions; None when e
    is not one (or a matrix is ragged)."""
    k = e.kind
    if k == N_MAT:
        rows = [list(r.kids) for r in e.kids]
        if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows) or len(rows) * len(rows[0]) > MAX_MAT_CELLS:
            return None
        return rows
    if depth >= MAX_MAT_DEPTH or k not in (N_NEG, N_ADD, N_SUB, N_MUL) or (k == N_MUL and e.op != 0):
        return None
    x = mat_value(e.kids[0], depth + 1)
    if k == N_NEG:
        return None if x is None else [[mk(N_NEG, [c]) for c in r] for r in x]
    y = mat_value(e.kids[1], depth + 1)
    if k in (N_ADD, N_SUB):
        if x is None or y is None or len(x) != len(y) or len(x[0]) != len(y[0]):
            return None
        return [[mk(k, [c, d]) for c, d in zip(rx, ry)] for rx, ry in zip(x, y)]
    if x is not None and y is not None:  # M N
        if len(x[0]) != len(y) or len(x) * len(y[0]) > MAX_MAT_CELLS:
            return None
        out = []
        for i in range(len(x)):
            row = []
            for j in range(len(y[0])):
                cell = mk(N_MUL, [x[i][0], y[0][j]])
                for t in range(1, len(y)):
                    cell = mk(N_ADD, [cell, mk(N_MUL, [x[i][t], y[t][j]])])
                row.append(cell)
            out.append(row)
        return out
    if x is not None and arith(e.kids[1]):  # M c
        return [[mk(N_MUL, [c, e.kids[1]]) for c in r] for r in x]
    if y is not None and arith(e.kids[0]):  # c M
        return [[mk(N_MUL, [e.kids[0], c]) for c in r] for r in y]
    return None


def chain_value(e, ctx):
    """The value a chain of = and \\approx stands for (its last member: "22/7 \\approx 3.14" is 3.14),
    or None when one of its links is false ("7 = 5", "5 \\approx 7")."""
    for i in range(len(e.kids) - 1):
        x, y = e.kids[i], e.kids[i + 1]
        ok = approx_true(x, y, ctx) if (e.op >> i) & 1 else node_eq(x, 0, y, 0, ctx)
        if not ok:
            return None
    return e.kids[-1]


def node_eq(a, ma, b, mb, ctx):
    ctx.step()
    if a.kind == N_CHAIN:
        a = chain_value(a, ctx)
        if a is None:
            return False
    if b.kind == N_CHAIN:
        b = chain_value(b, ctx)
        if b is None:
            return False
    ka = a.kind
    kb = b.kind
    # name = value against anything else: compare the value
    if ka == N_EQ and kb == N_EQ:
        if a.op == 1 and b.op == 1 and text_of_node(a.kids[0]) == text_of_node(b.kids[0]):
            return node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
        if arith(a.kids[0]) and arith(a.kids[1]) and arith(b.kids[0]) and arith(b.kids[1]):
            return rel_eq(a, b, False, ctx)
        if a.op == 1 and b.op == 1:
            return node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
        return False
    if ka == N_EQ and a.op == 1:
        return node_eq(a.kids[1], ma, b, mb, ctx)
    if kb == N_EQ and b.op == 1:
        return node_eq(a, ma, b.kids[1], mb, ctx)
    if ka == N_SEQ and len(a.kids) == 1:
        return node_eq(a.kids[0], ma, b, mb, ctx)
    if kb == N_SEQ and len(b.kids) == 1:
        return node_eq(a, ma, b.kids[0], mb, ctx)
    if ka == N_TEXT or kb == N_TEXT:
        return ka == kb and a.name == b.name
    if ka == N_REL and kb == N_REL:
        return a.op == b.op and rel_eq(a, b, a.op != O_NE, ctx)
    if ka == N_REL and kb in (N_IVL, N_UNION, N_TUPLE):
        iv = rel_to_interval(a)
        return iv is not None and node_eq(iv, 0, b, mb, ctx)
    if kb == N_REL and ka in (N_IVL, N_UNION, N_TUPLE):
        iv = rel_to_interval(b)
        return iv is not None and node_eq(a, ma, iv, 0, ctx)
    if ka == N_EQ or kb == N_EQ or ka == N_REL or kb == N_REL:
        return False
    if ka == N_IVL and kb == N_IVL:
        return a.op == b.op and node_eq(a.kids[0], ma, b.kids[0], mb, ctx) and \
            node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
    if (ka == N_IVL and kb == N_TUPLE) or (ka == N_TUPLE and kb == N_IVL):
        iv, tp = (a, b) if ka == N_IVL else (b, a)
        if iv.op != 0 or len(tp.kids) != 2:
            return False
        return node_eq(a.kids[0], ma, b.kids[0], mb, ctx) and node_eq(a.kids[1], ma, b.kids[1], mb, ctx)
    if ka == N_MAT and kb == N_MAT:  # row by row (ragged rows too)
        if len(a.kids) != len(b.kids):
            return False
        for q in range(len(a.kids)):
            ra = a.kids[q]
            rb = b.kids[q]
            if len(ra.kids) != len(rb.kids):
                return False
            for w in range(len(ra.kids)):
                if not node_eq(ra.kids[w], ma, rb.kids[w], mb, ctx):
                    return False
        return True
    if ka == N_MAT or kb == N_MAT:  # a matrix against matrix arithmetic: cell by cell
        x = mat_value(a, 0)
        y = mat_value(b, 0)
        if x is None or y is None or len(x) != len(y) or len(x[0]) != len(y[0]):
            return False
        for q in range(len(x)):
            for w in range(len(x[0])):
                if not node_eq(x[q][w], ma, y[q][w], mb, ctx):
                    return False
        return True
    if ka == N_TUPLE and kb in (N_TUPLE, N_SEQ) or kb == N_TUPLE and ka == N_SEQ:
        if len(a.kids) != len(b.kids) or len(a.kids) > MAX_ELEMS:
            return False
        for q in range(len(a.kids)):
            if not node_eq(a.kids[q], ma, b.kids[q], mb, ctx):
                return False
        return True
    if ka == N_UNION and kb == N_UNION:
        return unordered_eq([(x, ma) for x in a.kids], [(y, mb) for y in b.kids], ctx)
    if ka in (N_SET, N_SEQ) or kb in (N_SET, N_SEQ):
        if ka in (N_TUPLE, N_IVL, N_UNION, N_MAT) or kb in (N_TUPLE, N_IVL, N_UNION, N_MAT):
            return False
        return unordered_eq(as_elems(a, ctx), as_elems(b, ctx), ctx)
    if ka in CONTAINERS or kb in CONTAINERS:
        return False
    # two arithmetic expressions
    if (not (ma & FIXED) and pm_ids(a)) or (not (mb & FIXED) and pm_ids(b)):
        return unordered_eq(expand(a, ma, ctx), expand(b, mb, ctx), ctx)
    return expr_eq(a, ma, b, mb, ctx)


def text_of_node(e):
    """A canonical text of a small name-like node (to compare the left sides of x = ...)."""
    out = bytearray()
    stack = [e]
    while stack:
        x = stack.pop()
        out += bytes([x.kind + UPPER_A])  # the kind as a letter
        out += x.name
        for k in reversed(x.kids):
            stack.append(k)
    return bytes(out)


def _digits_apart(out, s, i):
    """Spaces at s[i] separate two digits ("2 3" is not "23"): one space is kept."""
    j = i
    while j < len(s) and isspace(s[j]):
        j += 1
    return bool(out) and isdigit(out[-1]) and j < len(s) and isdigit(s[j]), j


def norm_text(s):
    """Loose text form: \\text-like commands, braces, spaces, $ and a final '.' dropped; lower case.
    A space between two digits stays: "2 3" is not "23"."""
    out = bytearray()
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c == BACKSLASH:
            j = letters_end(s, i + 1, n)
            name = s[i + 1:j]
            if j == i + 1:
                i = j + 1 if j < n and not isalpha(s[j]) and s[j] in b',!;: ' else j
                if i == j:
                    out.append(BACKSLASH)
                continue
            if name in TEXT_CMDS or name in UNWRAP_CMDS or name in NORM_SKIP_CMDS:
                i = j
                continue
            out += s[i:j]
            i = j
            continue
        if isspace(c):
            apart, i = _digits_apart(out, s, i)
            if apart:
                out.append(SPACE)
            continue
        if c == LBRACE or c == RBRACE or c == DOLLAR:
            i += 1
            continue
        out.append(lower(c))
        i += 1
    while out and out[-1] == DOT:
        out.pop()
    return bytes(out)


def squeeze(s):
    """Exact form for the fast path: only whitespace and $ dropped (a space between digits stays)."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if isspace(c):
            apart, i = _digits_apart(out, s, i)
            if apart:
                out.append(SPACE)
            continue
        if c != DOLLAR:
            out.append(c)
        i += 1
    return bytes(out)
