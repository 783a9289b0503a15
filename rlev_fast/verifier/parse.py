"""Parser: tokens into an expression tree (sets, tuples, intervals, relations, matrices, arithmetic).
Twin of csrc/parse.cpp.

Recursive descent with a depth cap (MAX_DEPTH), a node cap (MAX_NODES) and a tree-depth cap
(MAX_AST_DEPTH); parse() returns None past any of them or on a syntax error.
"""
from .caps import MAX_ANSWER, MAX_AST_DEPTH, MAX_CHAIN, MAX_DEPTH, MAX_ELEMS, MAX_NODES, MAX_PM
from .tables import (N_ABS, N_ADD, N_APPLY, N_BINOM, N_CHAIN, N_DIV, N_E, N_EQ, N_FACT, N_FUNC, N_INF, N_IVL, N_MAT, N_MUL,
                     N_NEG, N_NUM, N_PI, N_PM, N_POW, N_REL, N_ROOT, N_SEQ, N_SET, N_SUB, N_TEXT, N_TUPLE, N_UNION,
                     N_VAR, O_ADD, O_APPROX, O_CAP, O_CUP, O_DIV, O_EQ, O_FACT, O_GE, O_GT, O_IN, O_LE, O_LT, O_MP,
                     O_MUL, O_NE, O_PM, O_POW, O_RATIO, O_SIM, O_SUB, T_AMP, T_BAR, T_BINOM, T_COMMA, T_FRAC, T_FUNC,
                     T_INF, T_LB, T_LC, T_LP, T_LS, T_MATB, T_MATE, T_NUM, T_OP, T_PI, T_RB, T_RC, T_ROW, T_RP,
                     T_RS, T_SEMI, T_SEP, T_SQRT, T_TEXT, T_VAR)
from .text import ZERO
from .tokenize import Tok, make_num, tokenize

CONTAINERS = (N_TUPLE, N_SET, N_SEQ, N_IVL, N_UNION, N_REL, N_EQ, N_TEXT, N_MAT, N_CHAIN)


class Node(object):
    """A tree node: kind (N_*), children, an operator or pm index (op), a name, an exact number."""

    __slots__ = ("kind", "kids", "op", "name", "num", "den", "dec", "sig", "lit", "depth")

    def __init__(self, kind, kids=None, op=0):
        self.depth = 1
        self.kind = kind
        self.kids = kids if kids is not None else []
        self.op = op
        self.name = b""
        self.num = 0
        self.den = 1
        self.dec = -1
        self.sig = 0
        self.lit = False


class ParseError(Exception):
    pass


class Parser(object):
    def __init__(self, toks, strict):
        self.strict = strict  # a response: constant-first chains must hold (an answer key is trusted)
        self.t = toks
        self.i = 0
        self.depth = 0
        self.nodes = 0
        self.npm = 0

    def node(self, kind, kids=None, op=0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ParseError()
        r = Node(kind, kids, op)
        d = 0
        for k in r.kids:
            if k.depth > d:
                d = k.depth
        r.depth = d + 1
        if r.depth > MAX_AST_DEPTH:
            raise ParseError()
        return r

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def at(self, kind, op=-1):
        tk = self.peek()
        return tk is not None and tk.kind == kind and (op < 0 or tk.op == op)

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError()

    def leave(self):
        self.depth -= 1

    # answer := part (';' part)*
    def parse_answer(self):
        parts = [self.parse_list(False)]
        while self.at(T_SEMI):
            self.i += 1
            parts.append(self.parse_list(False))
        if self.i != len(self.t):
            raise ParseError()
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ParseError()
        if len(parts) == 1:
            return parts[0]
        out = []
        for p in parts:
            if p.kind == N_SEQ and all(k.kind == N_EQ and k.op == 1 for k in p.kids):
                out.append(self.node(N_TUPLE, [k.kids[1] for k in p.kids]))
            elif p.kind == N_SEQ:
                out.extend(p.kids)
            else:
                out.append(p)
        return self.node(N_SEQ, out)

    # list := rel ((',' | and | or) rel)*   -- empty items are skipped
    def parse_list(self, semis_as_commas):
        items = []
        while True:
            tk = self.peek()
            if tk is None:
                break
            if tk.kind == T_COMMA or tk.kind == T_SEP or (semis_as_commas and tk.kind == T_SEMI):
                self.i += 1
                continue
            if tk.kind in (T_RP, T_RB, T_RC, T_RS, T_SEMI, T_MATE, T_AMP, T_ROW):
                break
            items.append(self.parse_rel())
            if len(items) > MAX_ELEMS * 4:
                raise ParseError()
        if not items:
            return None
        if len(items) == 1:
            return items[0]
        return self.node(N_SEQ, items)

    def parse_rel(self):
        exprs = [self.parse_union()]
        ops = []
        while True:
            tk = self.peek()
            if tk is not None and tk.kind == T_OP and tk.op in (O_EQ, O_LT, O_GT, O_LE, O_GE, O_NE, O_APPROX, O_IN, O_SIM):
                self.i += 1
                ops.append(tk.op)
                exprs.append(self.parse_union())
                if len(ops) > MAX_CHAIN:
                    raise ParseError()
            else:
                break
        return self.reduce_chain(exprs, ops)

    def reduce_chain(self, exprs, ops):
        """A chain of relations. "x = 5" names a value ("5 = x" too). A derivation (a chain with a
        name in it: "x = 5+5+1 = 11", "x = 1/3 \\approx 0.33") stands for its last value, or the
        value before its first \\approx. Constants joined by = and \\approx ("7 = 5", "22/7 \\approx
        3.14") form an N_CHAIN: compare.py checks that every link holds; in a response (strict) so
        does a chain that starts with a constant ("7 = f(x) = 1"). An equation with variables
        ("2x + 4y = 3") stays an equation; \\sim, \\propto ... are relations, never values."""
        if not ops:
            return exprs[0]
        n = len(ops)
        if all(o == O_EQ or o == O_APPROX for o in ops):
            if name_like(exprs[0]):
                e = self.node(N_EQ, [exprs[0], _derived(exprs[1:], ops[1:])])
                e.op = 1
                return e
            if n == 1 and name_like(exprs[1]) and not has_var(exprs[0]):
                e = self.node(N_EQ, [exprs[1], exprs[0]])
                e.op = 1
                return e
            if any(has_var(x) for x in exprs):
                if n == 1 and ops[0] == O_EQ:
                    return self.node(N_EQ, [exprs[0], exprs[1]])
                if not self.strict:
                    return _derived(exprs, ops)  # an answer key "1 = \\zzz = x = 0" stands for 0
            approx = 0
            for q in range(n):
                if ops[q] == O_APPROX:
                    approx |= 1 << q
            return self.chain(exprs, approx)
        if O_SIM in ops:
            if n != 1:
                raise ParseError()
            return self.node(N_REL, [exprs[0], exprs[1]], O_SIM)
        if n == 1 and ops[0] == O_IN:
            return exprs[1]
        if n == 2 and name_like(exprs[1]) and all(o in (O_LT, O_LE) for o in ops):
            return self.between(exprs[0], exprs[1], exprs[2], ops[0] == O_LE, ops[1] == O_LE)
        if n == 2 and name_like(exprs[1]) and all(o in (O_GT, O_GE) for o in ops):
            return self.between(exprs[2], exprs[1], exprs[0], ops[1] == O_GE, ops[0] == O_GE)
        if n == 1 and ops[0] in (O_LT, O_GT, O_LE, O_GE, O_NE):
            a, b = exprs[0], exprs[1]
            op = ops[0]
            if op == O_LT:
                a, b, op = b, a, O_GT
            elif op == O_LE:
                a, b, op = b, a, O_GE
            return self.node(N_REL, [a, b], op)
        raise ParseError()

    def between(self, lo, name, hi, lo_closed, hi_closed):
        """lo < name < hi as an interval; lo <= |z| <= hi as [-hi, -lo] U [lo, hi]."""
        iv = self.node(N_IVL, [lo, hi])
        iv.op = (1 if lo_closed else 0) | (2 if hi_closed else 0)
        if name.kind != N_ABS:
            return iv
        neg = self.node(N_IVL, [self.node(N_NEG, [hi]), self.node(N_NEG, [lo])])
        neg.op = (1 if hi_closed else 0) | (2 if lo_closed else 0)
        return self.node(N_UNION, [neg, iv])

    def chain(self, exprs, approx):
        e = self.node(N_CHAIN, list(exprs))
        e.op = approx  # bit q: link q is \\approx
        return e

    def parse_union(self):
        a = self.parse_add()
        if self.at(T_OP, O_CUP):
            parts = [a]
            while self.at(T_OP, O_CUP):
                self.i += 1
                parts.append(self.parse_add())
                if len(parts) > MAX_ELEMS:
                    raise ParseError()
            return self.node(N_UNION, parts)
        if self.at(T_OP, O_CAP):
            raise ParseError()
        return a

    def parse_add(self):
        a = self.parse_term()
        while True:
            tk = self.peek()
            if tk is None or tk.kind != T_OP or tk.op not in (O_ADD, O_SUB, O_PM, O_MP):
                break
            self.i += 1
            b = self.parse_term()
            if tk.op == O_ADD:
                a = self.node(N_ADD, [a, b])
            elif tk.op == O_SUB:
                a = self.node(N_SUB, [a, b])
            else:
                a = self.pm_node([a, b], tk.op == O_MP)
        return a

    def pm_node(self, kids, minus_first):
        e = self.node(N_PM, kids)
        e.op = self.npm
        e.lit = minus_first
        self.npm += 1
        if self.npm > MAX_PM:
            raise ParseError()
        return e

    def starts_factor(self, tk):
        if tk is None:
            return False
        return tk.kind in (T_NUM, T_VAR, T_PI, T_INF, T_FUNC, T_FRAC, T_SQRT, T_BINOM, T_LP, T_LC, T_LS, T_MATB)

    def parse_term(self):
        a = self.parse_unary()
        while True:
            tk = self.peek()
            if tk is not None and tk.kind == T_OP and tk.op in (O_MUL, O_DIV, O_RATIO):
                self.i += 1
                b = self.parse_unary()
                a = self.node(N_MUL if tk.op == O_MUL else N_DIV, [a, b], 1 if tk.op == O_RATIO else 0)
            elif self.starts_factor(tk) and tk.kind != T_NUM:
                # juxtaposition is a product only where mathematics writes one: never before a number
                # ("2 3" is neither 6 nor 23), so a number before a symbol or a bracket (2x, 2(3), 2\\pi)
                if tk.kind == T_FRAC and a.kind == N_NUM and a.lit and a.dec < 0:
                    b = self.parse_unary()
                    if b.kind == N_DIV and int_lit(b.kids[0]) and int_lit(b.kids[1]):
                        a = self.node(N_ADD, [a, b])  # mixed number 3\\frac{1}{2}
                    else:
                        a = self.node(N_MUL, [a, b])
                elif tk.kind == T_LP and a.kind == N_VAR:
                    b = self.parse_unary()
                    a = self.node(N_APPLY, [a, b])
                else:
                    b = self.parse_unary()
                    a = self.node(N_MUL, [a, b])
            else:
                break
        return a

    def parse_unary(self):
        tk = self.peek()
        if tk is not None and tk.kind == T_OP and tk.op in (O_SUB, O_ADD, O_PM, O_MP):
            self.i += 1
            self.enter()
            a = self.parse_unary()
            self.leave()
            if tk.op == O_SUB:
                r = self.node(N_NEG, [a])
            elif tk.op == O_ADD:
                r = a
            else:
                r = self.pm_node([a], tk.op == O_MP)
        else:
            r = self.parse_power()
        return r

    def parse_power(self):
        a = self.parse_postfix()
        if self.at(T_OP, O_POW):
            self.i += 1
            self.enter()
            b = self.parse_unary()
            self.leave()
            a = self.factorials(self.node(N_POW, [a, b]))
        return a

    def parse_postfix(self):
        return self.factorials(self.parse_primary())

    def factorials(self, a):
        """a!, a!! ...: every "!" that follows."""
        while self.at(T_OP, O_FACT):
            self.i += 1
            a = self.node(N_FACT, [a])
        return a

    def arg(self):
        """A LaTeX argument: {group}, or one token (\\frac94 reads 9 and 4)."""
        tk = self.peek()
        if tk is None:
            raise ParseError()
        if tk.kind == T_LC:
            self.i += 1
            a = self.parse_list(False)
            if not self.at(T_RC) or a is None:
                raise ParseError()
            self.i += 1
            return a
        if tk.kind == T_NUM and len(tk.raw) >= 2:
            first = Tok(T_NUM)
            first.num = tk.raw[0] - ZERO
            first.lit = True
            first.sig = 1 if first.num else 0
            rest = Tok(T_NUM)
            rest.raw = tk.raw[1:]
            rest.num, rest.den, rest.dec, rest.sig = make_num(rest.raw, b"")
            rest.lit = True
            self.t = self.t[:self.i] + [first, rest] + self.t[self.i + 1:]
        return self.parse_primary()

    def parse_primary(self):
        self.enter()
        tk = self.peek()
        if tk is None:
            raise ParseError()
        self.i += 1
        k = tk.kind
        if k == T_NUM:
            r = self.node(N_NUM)
            r.num, r.den, r.dec, r.sig, r.lit = tk.num, tk.den, tk.dec, tk.sig, tk.lit
        elif k == T_VAR:
            if tk.name == b"e":
                r = self.node(N_E)
            else:
                r = self.node(N_VAR)
                r.name = tk.name
        elif k == T_PI:
            r = self.node(N_PI)
        elif k == T_INF:
            r = self.node(N_INF)
        elif k == T_TEXT:
            r = self.node(N_TEXT)
            r.name = tk.name
        elif k == T_FRAC:
            a = self.arg()
            b = self.arg()
            r = self.node(N_DIV, [a, b])
        elif k == T_BINOM:
            a = self.arg()
            b = self.arg()
            r = self.node(N_BINOM, [a, b])
        elif k == T_SQRT:
            idx = None
            if self.at(T_LB):
                self.i += 1
                idx = self.parse_add()
                if not self.at(T_RB):
                    raise ParseError()
                self.i += 1
            a = self.arg()
            if idx is None:
                r = self.node(N_ROOT, [a])
            else:
                r = self.node(N_ROOT, [a, idx])
        elif k == T_FUNC:
            power = None
            if self.at(T_OP, O_POW):
                self.i += 1
                power = self.parse_unary()
            if self.at(T_LP):
                a = self.parse_primary()
            else:
                a = self.parse_power()
            if tk.name == b"abs":
                r = self.node(N_ABS, [a])
            else:
                r = self.node(N_FUNC, [a])
                r.name = tk.name
            if power is not None:
                r = self.node(N_POW, [r, power])
        elif k == T_LP or k == T_LB:
            inner = self.parse_list(True)
            close = self.peek()
            if close is None or close.kind not in (T_RP, T_RB) or inner is None:
                raise ParseError()
            self.i += 1
            items = inner.kids if inner.kind == N_SEQ else [inner]
            if len(items) == 2 and (k == T_LB or close.kind == T_RB):
                r = self.node(N_IVL, [items[0], items[1]])
                r.op = (1 if k == T_LB else 0) | (2 if close.kind == T_RB else 0)
            elif len(items) == 1 and k == T_LP and close.kind == T_RP:
                r = inner
            elif len(items) == 1:
                r = inner
            else:
                r = self.node(N_TUPLE, list(items))
        elif k == T_LC:
            inner = self.parse_list(False)
            if not self.at(T_RC) or inner is None:
                raise ParseError()
            self.i += 1
            r = inner
        elif k == T_LS:
            inner = self.parse_list(False)
            if not self.at(T_RS):
                raise ParseError()
            self.i += 1
            items = [] if inner is None else (inner.kids if inner.kind == N_SEQ else [inner])
            r = self.node(N_SET, list(items))
        elif k == T_BAR:
            inner = self.parse_add()
            if not self.at(T_BAR):
                raise ParseError()
            self.i += 1
            r = self.node(N_ABS, [inner])
        elif k == T_MATB:
            rows = []
            row = []
            while True:
                if self.at(T_MATE):
                    self.i += 1
                    break
                if self.peek() is None:
                    raise ParseError()
                if self.at(T_AMP):
                    self.i += 1
                    continue
                if self.at(T_ROW):
                    self.i += 1
                    if row:
                        rows.append(self.node(N_TUPLE, row))
                    row = []
                    continue
                row.append(self.parse_add())
                if len(row) > MAX_ELEMS:
                    raise ParseError()
            if row:
                rows.append(self.node(N_TUPLE, row))
            r = self.node(N_MAT, rows)
        else:
            raise ParseError()
        self.leave()
        return r


def _derived(values, ops):
    """The value a derivation stands for: the one before its first \\approx, else the last."""
    for q in range(len(ops)):
        if ops[q] == O_APPROX:
            return values[q]
    return values[-1]


def int_lit(e):
    return e.kind == N_NUM and e.lit and e.dec < 0


def name_like(e):
    k = e.kind
    if k == N_VAR:
        return True
    if k == N_APPLY:
        return e.kids[0].kind == N_VAR
    if k in (N_MUL, N_DIV, N_TUPLE):
        return len(e.kids) > 0 and all(name_like(x) for x in e.kids)
    if k == N_ABS:
        return name_like(e.kids[0])
    return False


def any_below(e, kinds):
    """Whether e or a node below it has a kind in `kinds`."""
    stack = [e]
    while stack:
        x = stack.pop()
        if x.kind in kinds:
            return True
        stack.extend(x.kids)
    return False


VAR_KINDS = frozenset((N_VAR, N_APPLY))
VAR_OR_CONTAINER_KINDS = VAR_KINDS | frozenset(CONTAINERS)


def has_var(e):
    """A variable (or a function applied) below e."""
    return any_below(e, VAR_KINDS)


def arith(e):
    """No containers below e (an arithmetic expression)."""
    return not any_below(e, CONTAINERS)


def is_const(e):
    """No variables and no containers below e (an arithmetic constant)."""
    return not any_below(e, VAR_OR_CONTAINER_KINDS)


def parse(ans, strict):
    """Answer bytes -> AST root, or None. strict: the answer is a response's (see reduce_chain)."""
    if len(ans) > MAX_ANSWER:
        return None
    toks = tokenize(ans)
    if toks is None or not toks:
        return None
    p = Parser(toks, strict)
    try:
        return p.parse_answer()
    except (ParseError, RecursionError):
        return None
