// Caps of the verifier: every loop, recursion and number is bounded by one of these. Twin of
// rlev_fast/verifier/caps.py (the binding exports them as rlev_fast._verify.caps();
// tests/verify/test_verify_stages.py checks the two are equal). Hitting a cap means "not equal" (or
// text comparison), never an exception to the caller.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rlv {

constexpr int64_t MAX_SCAN = 65536;          // bytes of the response (after </think>) scanned, from the end
constexpr int64_t MAX_ANSWER = 4096;         // bytes of an extracted answer that are parsed
constexpr int64_t MAX_SPAN = 512;            // bytes of prose after an "answer is" anchor
constexpr size_t MAX_TOKENS = 1024;          // tokens of one answer
constexpr int MAX_DEPTH = 48;                // parser nesting depth (groups, unary signs, exponents)
constexpr int MAX_AST_DEPTH = 200;           // depth of the expression tree (1+1+...+1 is left-deep)
constexpr int MAX_NODES = 2048;              // nodes of one answer's tree
constexpr size_t MAX_DIGITS = 2000;          // digits of one number literal
constexpr int64_t MAX_BITS = 8192;           // bits of an exact numerator / denominator
constexpr int64_t MAX_EXP = 100000;          // |integer exponent| tried exactly
constexpr int64_t MAX_FACT = 1000;           // n! computed exactly up to this n (and under MAX_BITS)
constexpr double MAX_FACT_DOUBLE = 170;      // n! in double up to this n (171! overflows)
constexpr double MAX_BINOM_K = 1000;         // k of binom(n, k) evaluated in double
constexpr int64_t MAX_SCI_EXP = 400;         // |exponent| of scientific notation (1.5e10) read exactly
constexpr size_t MAX_BASE_DIGITS = 64;       // digits of a number written in a base (204_5)
constexpr size_t MAX_ELEMS = 64;             // elements of a set / tuple compared; answers joined into one
constexpr size_t MAX_MAT_CELLS = 64;         // cells of a matrix in matrix arithmetic
constexpr int MAX_MAT_DEPTH = 8;             // nesting of matrix arithmetic (A + B - C ...)
constexpr size_t MAX_CHAIN = 16;             // relations in one chain (a = b = c < d ...)
constexpr int MAX_PM = 4;                    // \pm signs expanded per expression (2**4 variants)
constexpr int64_t MAX_STEPS = 200000;        // evaluation steps per verify() call
constexpr int MAX_ANCHOR_TRIES = 64;         // anchors tried from the end
constexpr int MAX_ANCHOR_HITS = 4096;        // occurrences of one text anchor collected
constexpr size_t MAX_BOLD_SPANS = 4096;      // **bold** spans collected
constexpr int64_t MAX_GAP = 64;              // bytes between two answers that may still join them
constexpr int64_t MAX_AND_GAP = 48;          // ... when the connector is "and"
constexpr size_t MAX_BOLD = 40;              // bytes of a **bold** span read as an answer
constexpr size_t MAX_SHORT_FORMULA = 256;    // a whole text this short and formula-like is its own answer
constexpr size_t MAX_SHORT_TEXT = 16;        // a whole text this short is its own answer, else nothing
constexpr size_t MAX_CHOICE_LETTERS = 10;    // letters of one group of choices ("ACD"), choices A..J
constexpr int64_t FIXED = (int64_t)1 << 16;  // mask flag: the \pm signs of this element are chosen
constexpr int64_t MAX_LEAD = 200;            // bytes before an answer read for words that negate or hedge it
constexpr int64_t MAX_TAIL = 256;            // bytes after an answer read for words that negate, hedge or retract it
constexpr int64_t MAX_EARLIER_BOXES = 8;     // earlier boxed answers compared with the final one
constexpr int MAX_TEXT_DEPTH = 2;            // \text{...} groups with numbers read as math, nested this deep
constexpr int MIN_SIG_DIGITS = 3;            // a decimal approximates an exact value only with this many digits
constexpr int NPOINTS = 6;                   // points for symbolic comparison: positive, negative, mixed signs
constexpr int MIN_POINTS = 2;                // points where both sides are defined and resolved, for a match
constexpr double RESOLUTION = 1e-12;
// threads of one verify_batch call (and never more than the cores): the work is CPU-bound, and each
// thread reserves a stack (8 MiB of address space by default), so more threads only cost
constexpr int MAX_THREADS = 64;         // values match when they agree within bounds this tight

}  // namespace rlv
