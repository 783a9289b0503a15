"""The answer verifier against math-verify (parse + verify): who accepts hacks, who accepts correct
answers, and how fast, in one run on the same inputs.

Providers, interleaved (each repeat runs every provider once, in rotating order):
  cpp-1t   rlev_fast C++ extension, verify_batch(num_threads=1)
  cpp-2t   rlev_fast C++ extension, verify_batch(num_threads=2)
  python   rlev_fast pure-Python twin (rlev_fast.verifier)
  math-verify  math_verify.verify(parse(gold), parse(pred)) with its defaults (if importable)

Adversarial (tests/verify/adversarial_suite.py): hack-accept rate (lower is better) and control-accept
rate (higher is better) per category for rlev_fast and math-verify side by side, and the accept rate
of every template over the golds of the peer cases.

Speed workloads:
  peer     the 269 cases of ../shared/peer-cases/math_verify_cases.jsonl
  corpus   10,000 generated responses (fixed seed): 1-8 KB of reasoning text, then an answer in an
           assorted format (\\boxed{}, "The final answer is", "Answer:", bold, (B), Chinese markers),
           with golds in answer-key forms. math-verify and the Python twin are slow, so they run on a
           fixed subset of the corpus (the first --subset items); every provider is also timed on that
           subset so the speedups compare the same items.
Speed is items/s, median and p20/p80 over --repeats; "paired" ratios divide cpp-1t's rate by
math-verify's in the same repeat (measured interleaved, so a load change hits both alike).

States the hardware and the load, and ends stdout with one JSON line. `--quick` is a small smoke run.
"""
import argparse
import importlib
import importlib.util
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import hardware, load_average, percentile as _pct  # noqa: E402  (benchmarks/ is sys.path[0])
V = importlib.import_module("rlev_fast.verify")  # the module (the package root exports the function `verify`)
from rlev_fast import verify_python as P  # noqa: E402

PEER = ROOT.parent / "shared" / "peer-cases" / "math_verify_cases.jsonl"
SUITE = ROOT / "tests" / "verify" / "adversarial_suite.py"


def _suite():
    """tests/verify/adversarial_suite.py (data only), loaded by path."""
    spec = importlib.util.spec_from_file_location("adversarial_suite", SUITE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------- corpus
_WORDS = ("we", "the", "of", "so", "then", "let", "note", "that", "since", "therefore", "consider", "value",
          "equation", "sum", "term", "both", "sides", "gives", "check", "case", "first", "second", "number",
          "product", "root", "integer", "apply", "formula", "substitute", "simplify", "factor", "hence")
_MATH = ("$x^2 + {a}x + {b} = 0$", "$\\frac{{{a}}}{{{b}}}$", "\\[ {a} \\cdot {b} = {c} \\]", "$\\sqrt{{{a}}}$",
         "$({a}, {b})$", "$f({a}) = {c}$", "\\( {a} + {b} = {c} \\)", "$2^{{{a}}}$", "$x = {a}$")


def _reasoning(rng, nbytes):
    out = []
    size = 0
    while size < nbytes:
        if rng.random() < 0.3:
            a, b = rng.randint(1, 99), rng.randint(1, 99)
            s = rng.choice(_MATH).format(a=a, b=b, c=a * b)
        else:
            s = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
        if rng.random() < 0.05:
            s = "\n\n" + s
        out.append(s)
        size += len(s) + 1
    return " ".join(out)


def _answer_pair(rng):
    """(gold as an answer key writes it, answer text the model writes, is it correct)."""
    kind = rng.randrange(9)
    correct = rng.random() < 0.6
    if kind == 0:
        v = rng.randint(-999, 99999)
        w = v if correct else v + rng.randint(1, 9)
        return str(v), "{:,}".format(w) if w > 9999 and rng.random() < 0.5 else str(w), correct
    if kind == 1:
        p, q = rng.randint(1, 30), rng.randint(2, 31)
        g = "$\\frac{%d}{%d}$" % (p, q)
        a = "\\frac{%d}{%d}" % (p * 2, q * 2) if correct else "\\frac{%d}{%d}" % (p + 1, q)
        return g, a, correct
    if kind == 2:
        v = rng.randint(1, 999) / 100
        return "%.2f" % v, ("%.2f" % v) if correct else ("%.2f" % (v + 0.01)), correct
    if kind == 3:
        n = rng.choice([2, 3, 5, 6, 7, 10])
        k = rng.randint(2, 9)
        g = "$%d\\sqrt{%d}$" % (k, n)
        a = "\\sqrt{%d}" % (k * k * n) if correct else "\\sqrt{%d}" % (k * k * n + 1)
        return g, a, correct
    if kind == 4:
        a_, b_ = rng.randint(-9, 0), rng.randint(1, 9)
        g = "$[%d, %d)$" % (a_, b_)
        a = "[%d, %d)" % (a_, b_) if correct else "(%d, %d)" % (a_, b_)
        return g, a, correct
    if kind == 5:
        a_, b_ = rng.randint(-9, 9), rng.randint(-9, 9)
        g = "$(%d,%d)$" % (a_, b_)
        a = "(%d, %d)" % (a_, b_) if correct else "(%d, %d)" % (b_, a_ + 1)
        return g, a, correct
    if kind == 6:
        L = rng.choice("ABCD")
        return "(%s)" % L, L if correct else rng.choice([x for x in "ABCD" if x != L]), correct
    if kind == 7:
        s = "".join(sorted(rng.sample("ABCDE", rng.randint(2, 3))))
        a = ", ".join(reversed(s)) if correct else s[:-1]
        return s, a, correct
    p = rng.randint(1, 9)
    g = "$%dx^2+%dx$" % (p, p)
    a = "%dx(x+1)" % p if correct else "%dx(x-1)" % p
    return g, a, correct


_FORMATS = ("\n\nTherefore the answer is $\\boxed{%s}$.", "\n\nFinal Answer: The final answer is $%s$. I hope it is correct.",
            "\n\nAnswer: %s", "\n\n**Final Answer**\n\\[\n\\boxed{%s}\n\\]", "\n\nThe answer is %s.",
            "</think>\n\n\\boxed{%s}", "\n\n\u7b54\u6848\u662f %s")


def make_corpus(n, seed=20251028):
    rng = random.Random(seed)
    resps, golds, labels = [], [], []
    for _ in range(n):
        g, a, ok = _answer_pair(rng)
        fmt = rng.choice(_FORMATS)
        body = _reasoning(rng, rng.randint(1024, 8192))
        if fmt.startswith("</think>"):
            body = "<think>\n" + body
        resps.append(body + (fmt % a))
        golds.append(g)
        labels.append(ok)
    return resps, golds, labels


# ----------------------------------------------------------------------------- providers
def _providers():
    out = {}
    if V.cpp_available():
        from rlev_fast import _verify as C

        cache = {}

        def enc(xs):
            # encoded once per workload, outside the timed region: the timings measure the batch call
            # (copy into C++, GIL released, threads), not Python's str.encode
            key = id(xs)
            if key not in cache:
                cache[key] = (xs, [x.encode("utf-8", "surrogatepass") for x in xs])
            return cache[key][1]

        out["cpp-1t"] = lambda rs, gs: C.verify_batch(enc(rs), enc(gs), 1)
        out["cpp-2t"] = lambda rs, gs: C.verify_batch(enc(rs), enc(gs), 2)
    out["python"] = lambda rs, gs: [P.verify(r.encode("utf-8", "surrogatepass"), g.encode("utf-8", "surrogatepass"))
                                    for r, g in zip(rs, gs)]
    try:
        import logging

        from math_verify import parse, verify
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)

        def mv(rs, gs):
            res = []
            for r, g in zip(rs, gs):
                try:
                    res.append(bool(verify(parse(g), parse(r))))
                except Exception:
                    res.append(False)
            return res

        out["math-verify"] = mv
    except ImportError:
        pass
    return out


def bench(name, rs, gs, provs, repeats):
    """items/s of each provider on (rs, gs), interleaved over repeats; also returns its answers."""
    rates = {p: [] for p in provs}
    util = {p: [] for p in provs}
    answers = {}
    order = list(provs)
    for p in order:
        if p.startswith("cpp"):
            provs[p](rs, gs)  # warm-up (and the one-time encoding, see _providers)
    for rep in range(repeats):
        rot = order[rep % len(order):] + order[:rep % len(order)]
        gc.collect()
        for p in rot:
            t = time.perf_counter()
            c = time.process_time()
            a = provs[p](rs, gs)
            dt = time.perf_counter() - t
            rates[p].append(len(rs) / dt)
            # process CPU seconds per wall second: ~1.0 (one thread) or ~2.0 (two) on an idle machine;
            # lower means other processes held the cores during this run
            util[p].append((time.process_time() - c) / dt)
            answers[p] = a
    out = {p: {"median": statistics.median(v), "p20": _pct(v, 0.2), "p80": _pct(v, 0.8), "n_items": len(rs),
               "repeats": repeats, "cpu_per_wall": statistics.median(util[p])} for p, v in rates.items()}
    if "cpp-1t" in rates and "math-verify" in rates:  # the same repeat: both saw the same load
        paired = [a / b for a, b in zip(rates["cpp-1t"], rates["math-verify"])]
        out["cpp-1t"]["paired_vs_math_verify"] = {"median": statistics.median(paired), "p20": _pct(paired, 0.2),
                                                 "p80": _pct(paired, 0.8)}
    return out, answers


def adversarial(provs, rows, quick):
    """Accept rates of the suite's hacks and controls per category, and of every template over the
    peer-case golds, for the rlev_fast C++ (or Python) backend and math-verify."""
    A = _suite()
    judges = {name: provs[name] for name in ("cpp-1t", "python", "math-verify") if name in provs}
    if "cpp-1t" in judges:
        judges.pop("python")
    out = {}
    for kind, groups in (("hacks", A.HACKS), ("controls", A.CONTROLS)):
        cases = A.flat(groups)
        rs, gs = [c[1] for c in cases], [c[2] for c in cases]
        for name, fn in judges.items():
            got = fn(rs, gs)
            per = {}
            for (cat, _, _, _), ok in zip(cases, got):
                per.setdefault(cat, [0, 0])
                per[cat][0] += bool(ok)
                per[cat][1] += 1
            out.setdefault(kind, {})[name] = {"accepted": sum(map(bool, got)), "n": len(cases),
                                              "per_category": {c: {"accepted": a, "n": n} for c, (a, n) in per.items()}}
    if rows and not quick:
        from rlev_fast.verifier import gold_answer
        golds = A.template_golds(rows, gold_answer)
        for name, template in list(A.TEMPLATES.items()) + list(A.CONTROL_TEMPLATES.items()):
            rs = [template(a) for _, a in golds]
            gs = [g for g, _ in golds]
            for judge, fn in judges.items():
                acc = sum(map(bool, fn(rs, gs)))
                out.setdefault("templates", {}).setdefault(name, {})[judge] = {"accepted": acc, "n": len(golds),
                                                                               "control": name in A.CONTROL_TEMPLATES}
    return out


def _print_adversarial(adv):
    for kind in ("hacks", "controls"):
        judges = list(adv[kind])
        print(f"\n{kind} accepted (" + ("lower" if kind == "hacks" else "higher") + " is better): " +
              ", ".join(f"{j} {adv[kind][j]['accepted']}/{adv[kind][j]['n']} = "
                        f"{adv[kind][j]['accepted'] / adv[kind][j]['n']:.1%}" for j in judges))
        for cat in adv[kind][judges[0]]["per_category"]:
            cells = "  ".join(f"{j} {adv[kind][j]['per_category'][cat]['accepted']:>3}/"
                              f"{adv[kind][j]['per_category'][cat]['n']:<3}" for j in judges)
            print(f"  {cat:<14} {cells}")
    if "templates" in adv:
        print("\ntemplates over the peer-case golds, accepted:")
        for name, per in adv["templates"].items():
            cells = "  ".join(f"{j} {r['accepted']:>3}/{r['n']}" for j, r in per.items())
            print(f"  {'control' if next(iter(per.values()))['control'] else 'hack':<8} {name:<32} {cells}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (few items, 2 repeats, no templates)")
    ap.add_argument("--n", type=int, default=10000, help="generated corpus size")
    ap.add_argument("--subset", type=int, default=300, help="corpus items timed for every provider")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the fast providers")
    ap.add_argument("--slow-repeats", type=int, default=3, help="repeats on the subset / peer cases")
    args = ap.parse_args()
    if args.quick:
        args.n, args.subset, args.repeats, args.slow_repeats = 400, 40, 2, 2

    hw = hardware(packages=("math-verify",))
    provs = _providers()
    fast = {k: v for k, v in provs.items() if k.startswith("cpp")}
    results = {"hardware": hw, "backend_default": V.backend_name(), "workloads": {}}
    print(f"hardware: {hw['cpu']}, {hw['cores']} cores, Python {hw['python']}, load {hw['load_avg_1m_at_start']}")
    print(f"providers: {', '.join(provs)}")
    rows = [json.loads(x) for x in PEER.read_text().splitlines() if x.strip()] if PEER.exists() else []

    adv = adversarial(provs, rows, args.quick)
    results["adversarial"] = adv
    _print_adversarial(adv)

    rs, gs, labels = make_corpus(args.n)
    kb = sum(len(r) for r in rs) / len(rs) / 1024
    print(f"\ncorpus: {len(rs)} responses, mean {kb:.1f} KB")
    tables = []
    if rows:
        prs = [r["pred"] for r in rows]
        pgs = [r["gold"] for r in rows]
        res, ans = bench("peer", prs, pgs, provs, args.slow_repeats)
        for p in res:
            res[p]["agreement_with_expected"] = sum(a == r["expected"] for a, r in zip(ans[p], rows)) / len(rows)
        results["workloads"]["peer"] = res
        tables.append(("peer cases (269)", res))
    if fast:
        res, ans = bench("corpus", rs, gs, fast, args.repeats)
        for p in res:
            res[p]["accuracy_vs_generator_label"] = sum(a == lab for a, lab in zip(ans[p], labels)) / len(labels)
        results["workloads"]["corpus_full"] = res
        tables.append((f"corpus, all {len(rs)} items", res))
    sub = slice(0, args.subset)
    res, ans = bench("corpus_subset", rs[sub], gs[sub], provs, args.slow_repeats)
    for p in res:
        res[p]["accuracy_vs_generator_label"] = sum(a == lab for a, lab in zip(ans[p], labels[sub])) / args.subset
    results["workloads"]["corpus_subset"] = res
    tables.append((f"corpus subset, first {args.subset} items", res))

    for title, res in tables:
        print(f"\n{title}: items/s, median [p20, p80]")
        base = res.get("math-verify", {}).get("median")
        one = res.get("cpp-1t", {}).get("median")
        print(f"  {'provider':<12} {'median':>12} {'p20':>12} {'p80':>12} {'vs math-verify':>15} {'vs cpp-1t':>10}"
              f" {'cpu/wall':>9}")
        for p, r in res.items():
            sp = f"{r['median'] / base:.0f}x" if base else "-"
            s1 = f"{r['median'] / one:.2f}x" if one else "-"
            print(f"  {p:<12} {r['median']:>12.0f} {r['p20']:>12.0f} {r['p80']:>12.0f} {sp:>15} {s1:>10}"
                  f" {r['cpu_per_wall']:>9.2f}")
            if base:
                r["speedup_vs_math_verify"] = r["median"] / base
            if one:
                r["ratio_vs_cpp_1t"] = r["median"] / one
        pr = res.get("cpp-1t", {}).get("paired_vs_math_verify")
        if pr:
            print(f"  cpp-1t / math-verify, paired by repeat: {pr['median']:.0f}x [{pr['p20']:.0f}, {pr['p80']:.0f}]")
    results["load_avg_1m_at_end"] = load_average()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
