"""Caps of the verifier: every loop, recursion and number is bounded by one of these.

Defined once for the Python twin; csrc/caps.h defines the C++ side and the binding exports it
(`rlev_fast._verify.caps()`); tests/verify/test_verify_stages.py checks that the two are equal.
Hitting a cap means "not equal" (or text comparison), never an exception to the caller.
"""

MAX_SCAN = 65536  # bytes of the response (after </think>) that are scanned, from the end
MAX_ANSWER = 4096  # bytes of an extracted answer that are parsed
MAX_SPAN = 512  # bytes of prose after an "answer is" anchor
MAX_TOKENS = 1024  # tokens of one answer
MAX_DEPTH = 48  # parser nesting depth (groups, unary signs, exponents)
MAX_AST_DEPTH = 200  # depth of the expression tree (1+1+...+1 is a left-deep chain)
MAX_NODES = 2048  # nodes of one answer's tree
MAX_DIGITS = 2000  # digits of one number literal
MAX_BITS = 8192  # bits of an exact numerator / denominator
MAX_EXP = 100000  # |integer exponent| tried exactly
MAX_FACT = 1000  # n! computed exactly up to this n (and under MAX_BITS)
MAX_FACT_DOUBLE = 170  # n! in double up to this n (171! overflows)
MAX_BINOM_K = 1000  # k of binom(n, k) evaluated in double
MAX_SCI_EXP = 400  # |exponent| of scientific notation (1.5e10) read exactly
MAX_BASE_DIGITS = 64  # digits of a number written in a base (204_5)
MAX_ELEMS = 64  # elements of a set / tuple that are compared; boxes or regions joined into one answer
MAX_MAT_CELLS = 64  # cells of a matrix in matrix arithmetic (sums, scalings, products)
MAX_MAT_DEPTH = 8  # nesting of matrix arithmetic (A + B - C ...)
MAX_CHAIN = 16  # relations in one chain (a = b = c < d ...)
MAX_PM = 4  # \pm signs expanded per expression (2**4 variants)
MAX_STEPS = 200000  # evaluation steps per verify() call
MAX_ANCHOR_TRIES = 64  # anchors tried from the end
MAX_ANCHOR_HITS = 4096  # occurrences of one text anchor collected
MAX_BOLD_SPANS = 4096  # **bold** spans collected
MAX_GAP = 64  # bytes between two answers that may still join them ("$1$, $2$")
MAX_AND_GAP = 48  # ... when the connector is "and"
MAX_BOLD = 40  # bytes of a **bold** span read as an answer
MAX_SHORT_FORMULA = 256  # a whole text this short and formula-like is its own answer
MAX_SHORT_TEXT = 16  # a whole text this short is its own answer when nothing else is found
MAX_CHOICE_LETTERS = 10  # letters of one group of choices ("ACD"), choices A..J
FIXED = 1 << 16  # mask flag: the \pm signs of this element are chosen (bits 0..MAX_PM-1)
MAX_LEAD = 200  # bytes before an answer read for words that negate or hedge it
MAX_TAIL = 256  # bytes after an answer read for words that negate, hedge or retract it
MAX_EARLIER_BOXES = 8  # earlier boxed answers compared with the final one
MAX_TEXT_DEPTH = 2  # \text{...} groups with numbers read as math, nested this deep
MIN_SIG_DIGITS = 3  # a decimal approximates an exact value only with this many significant digits
NPOINTS = 6  # points for symbolic comparison: positive, negative and mixed signs
MIN_POINTS = 2  # points where both sides are defined and resolved, for a symbolic match
# threads of one verify_batch call of the C++ backend (and never more than the cores): the work is
# CPU-bound, and each thread reserves a stack (8 MiB of address space by default); the Python twin
# runs a batch on the calling thread
MAX_THREADS = 64
RESOLUTION = 1e-12  # two values match when they agree within their error bounds and those are this tight

CAPS = {k: v for k, v in globals().items() if k.isupper() and not k.startswith("_") and k != "CAPS"}
