// Grading: a response against a gold answer, the stages put together. Twin of
// rlev_fast/verifier/grade.py. Nothing throws past the public functions.
#include <algorithm>

#include "caps.h"
#include "choice.h"
#include "compare.h"
#include "context.h"
#include "extract.h"
#include "verify.h"

namespace rlv {

// a response answer p (prepared text t) against the gold's choice letters; boxed: p is a box
static bool grade_choice(uint32_t gold_mask, const B& p, const B& t, const Extracted& X, bool boxed) {
  uint32_t pmk;
  bool ph;
  if (!mc_letters(p, false, &pmk, &ph) || ph) return false;
  // several different boxed answers outside the final group: a hedge
  int64_t lim = std::min(X.first_in_group, (int64_t)X.boxes.size());
  for (int64_t bi = 0; bi < lim; bi++) {
    const Span& bx = X.boxes[(size_t)bi];
    B content = sub(t, bx.cs, bx.ce);
    uint32_t m;
    bool h;
    const bool letters = mc_letters(content, false, &m, &h);
    if ((letters && m != pmk) || (!letters && boxed && !strip_ws(content).empty())) return false;
  }
  return pmk == gold_mask;
}

// a response answer p against a gold answer g (both extracted, not letters)
static bool grade_math(const B& p, const B& g) {
  if (squeeze(p) == squeeze(g)) return true;
  if (len(p) > MAX_ANSWER || len(g) > MAX_ANSWER) return false;
  Tree T;
  T.nodes.reserve(512);
  int ga = parse(T, g, false);
  int pa = parse(T, p, true);
  if (ga < 0 || pa < 0) return norm_text(p) == norm_text(g);
  Ctx ctx;
  try {
    if (node_eq(T, ga, 0, pa, 0, ctx)) return true;
  } catch (Abort&) {
    return false;
  }
  if (T[ga].kind == N_TEXT || T[pa].kind == N_TEXT) return norm_text(p) == norm_text(g);
  return false;
}

// every boxed answer before the final group says the same as the final answer p
static bool earlier_boxes_agree(const B& p, const B& t, const Extracted& X) {
  const int64_t hi = std::min(X.first_in_group, (int64_t)X.boxes.size());
  for (int64_t bi = std::max<int64_t>(0, X.first_in_group - MAX_EARLIER_BOXES); bi < hi; bi++) {
    B q = strip_ws(sub(t, X.boxes[(size_t)bi].cs, X.boxes[(size_t)bi].ce));
    if (!q.empty() && !grade_math(q, p)) return false;
  }
  return true;
}

static bool verify_impl(const std::string& resp, const std::string& gold) {
  B g;
  if (!gold_answer(gold, &g)) return false;
  B t, p;
  Extracted X;
  if (!prepare_response(resp, &t) || !answer_of(t, false, &X, &p)) return false;
  if (judge(t, X, g) != V_OK) return false;
  uint32_t gm;
  bool gh;
  if (mc_letters(g, true, &gm, &gh)) return grade_choice(gm, p, t, X, X.how == HOW_BOX);  // the gold is letters
  if (X.how == HOW_BOX && !earlier_boxes_agree(p, t, X)) return false;  // two different boxed final answers
  return grade_math(p, g);
}

bool verify(const std::string& resp, const std::string& gold) {
  try {
    return verify_impl(resp, gold);
  } catch (...) {
    return false;
  }
}

}  // namespace rlv
