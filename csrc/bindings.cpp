// pybind11 module rlev_fast._verify: bytes in (Python encodes str with "surrogatepass"), GIL
// released around all the work, a batch shared by at most MAX_THREADS std::threads.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "caps.h"
#include "verify.h"

namespace py = pybind11;

void add_stages(py::module_& m);  // bindings_stages.cpp

static std::vector<std::string> to_strings(const py::list& items, const char* what) {
  std::vector<std::string> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); i++) {
    py::handle h = items[i];
    if (!PyBytes_Check(h.ptr())) throw py::type_error(std::string(what) + " must hold bytes");
    char* data = nullptr;
    Py_ssize_t n = 0;
    PyBytes_AsStringAndSize(h.ptr(), &data, &n);
    out.emplace_back(data, (size_t)n);
  }
  return out;
}

// verify() over the batch on up to MAX_THREADS threads (never more than the machine's cores, nor
// than items: the work is CPU-bound). Threads take chunks from a shared counter and the calling
// thread works too, so when a thread cannot be created (std::system_error: no memory for its stack,
// a process limit) the batch goes on with the threads it has; it never calls std::terminate.
static std::vector<char> run_batch(const std::vector<std::string>& resps, const std::vector<std::string>& golds,
                                   int num_threads) {
  const size_t n = resps.size();
  std::vector<char> res(n, 0);
  unsigned hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;
  size_t nt = num_threads <= 0 ? hw : (size_t)num_threads;
  nt = std::min({nt, (size_t)hw, (size_t)rlv::MAX_THREADS, std::max<size_t>(n, 1)});
  const size_t chunk = std::max<size_t>(1, (n + 4 * nt - 1) / (4 * nt));  // a few chunks per thread
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (;;) {
      const size_t lo = next.fetch_add(chunk);
      if (lo >= n) return;
      const size_t hi = std::min(n, lo + chunk);
      for (size_t i = lo; i < hi; i++) res[i] = rlv::verify(resps[i], golds[i]) ? 1 : 0;
    }
  };
  std::vector<std::thread> ths;
  for (size_t t = 1; t < nt; t++) {
    try {
      ths.emplace_back(work);
    } catch (...) {  // std::system_error (or bad_alloc): go on with fewer threads
      break;
    }
  }
  work();
  for (auto& th : ths) th.join();
  return res;
}

// extract / gold_answer without the GIL: the answer as bytes, or None when there is none.
static py::object answer_or_none(bool (*fn)(const std::string&, std::string*), py::bytes text) {
  std::string in = text, out;
  bool ok;
  {
    py::gil_scoped_release rel;
    ok = fn(in, &out);
  }
  if (!ok) return py::none();
  return py::bytes(out);
}

PYBIND11_MODULE(_verify, m) {
  m.doc() = "C++ answer verifier of rlev_fast (see rlev_fast/verify.py for the public API)";
  m.def(
      "verify",
      [](py::bytes resp, py::bytes gold) {
        std::string r = resp, g = gold;
        py::gil_scoped_release rel;
        return rlv::verify(r, g);
      },
      py::arg("response"), py::arg("gold"));
  m.def(
      "extract", [](py::bytes resp) { return answer_or_none(rlv::extract, resp); }, py::arg("response"));
  m.def(
      "gold_answer", [](py::bytes gold) { return answer_or_none(rlv::gold_answer, gold); }, py::arg("gold"));
  m.def(
      "verify_batch",
      [](py::list resps, py::list golds, int num_threads) {
        if (resps.size() != golds.size()) throw py::value_error("responses and golds differ in length");
        std::vector<std::string> r = to_strings(resps, "responses");
        std::vector<std::string> g = to_strings(golds, "golds");
        std::vector<char> out;
        {
          py::gil_scoped_release rel;
          out = run_batch(r, g, num_threads);
        }
        py::list res(out.size());
        for (size_t i = 0; i < out.size(); i++) res[i] = py::bool_(out[i]);
        return res;
      },
      py::arg("responses"), py::arg("golds"), py::arg("num_threads") = 0);
  add_stages(m);
}
