// Sources of the oracle test programs (generated so each has thousands of sampled addresses).

export function cProgram(nFuncs = 48): { main: string; header: string } {
  const header = `#ifndef HELPERS_H
#define HELPERS_H
static inline unsigned mix(unsigned x) { x ^= x >> 13; x *= 0x5bd1e995u; return x ^ (x >> 15); }
static inline unsigned clamp_add(unsigned a, unsigned b) { unsigned s = a + mix(b); return s < a ? ~0u : s; }
#endif
`;
  let main = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
struct acc { unsigned v[8]; int n; };
static inline unsigned leaf(unsigned x, int k) { return (x << (k & 7)) | (x >> (32 - (k & 7) - 1)); }
static inline unsigned mid(unsigned x, int k) { unsigned r = 0; for (int i = 0; i < k; i++) r += leaf(x + i, i) ^ mix(r); return r; }
static inline void push(struct acc *a, unsigned v) { a->v[a->n++ & 7] = clamp_add(v, a->n); }
`;
  for (let i = 0; i < nFuncs; i++) {
    main += `
__attribute__((noinline)) unsigned work${i}(const char *s, int n) {
  struct acc a; memset(&a, 0, sizeof a);
  unsigned h = ${i * 7919 + 1}u;
  for (int j = 0; j < n; j++) {
    switch ((s[j % 16] + j) % ${(i % 4) + 3}) {
      case 0: h = mid(h, j % ${(i % 5) + 2}); break;
      case 1: push(&a, h ^ (unsigned)s[j % 16]); break;
      case 2: h = clamp_add(h, leaf(h, j)); break;
      default: h += (unsigned)strlen(s + (j % 8)) * ${i + 3}u;
    }
  }
  for (int j = 0; j < 8; j++) h ^= mix(a.v[j] + j);
  return h;
}
`;
  }
  main += `
int main(int argc, char **argv) {
  const char *s = argc > 1 ? argv[1] : "the quick brown fox";
  unsigned t = 0;
  int n = argc > 2 ? atoi(argv[2]) : 100;
`;
  for (let i = 0; i < nFuncs; i++) main += `  t += work${i}(s, n);\n`;
  main += `  printf("%u\\n", t);\n  return 0;\n}\n`;
  return { main, header };
}

export const cppProgram = `#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace geo {
template <typename T> struct Vec { T x, y; Vec operator+(const Vec &o) const { return {x + o.x, y + o.y}; } T dot(const Vec &o) const { return x * o.x + y * o.y; } };
template <typename T> inline T norm2(const Vec<T> &v) { return v.dot(v); }
class Shape { public: virtual ~Shape() = default; virtual double area() const = 0; virtual std::string name() const = 0; };
class Rect : public Shape { double w_, h_; public: Rect(double w, double h) : w_(w), h_(h) {} double area() const override { return w_ * h_; } std::string name() const override { return "rect" + std::to_string(w_); } };
class Circle : public Shape { double r_; public: explicit Circle(double r) : r_(r) {} double area() const override { return 3.14159 * r_ * r_; } std::string name() const override { return "circle" + std::to_string(r_); } };
namespace detail {
template <typename C, typename F> auto fold(const C &c, F f) { typename C::value_type acc{}; for (const auto &e : c) acc = f(acc, e); return acc; }
}
template <typename T> T total(const std::vector<Vec<T>> &vs) { return detail::fold(std::vector<T>{}, [](T a, T b) { return a + b; }) + [&] { T s{}; for (auto &v : vs) s += norm2(v); return s; }(); }
}  // namespace geo

namespace {
std::vector<std::unique_ptr<geo::Shape>> make_shapes(int n) {
  std::vector<std::unique_ptr<geo::Shape>> out;
  for (int i = 0; i < n; i++) { if (i % 3) out.push_back(std::make_unique<geo::Rect>(i, i + 1)); else out.push_back(std::make_unique<geo::Circle>(i)); }
  return out;
}
}  // namespace

template <typename K, typename V> __attribute__((noinline)) V sum_map(const std::map<K, V> &m) { V s{}; for (auto &kv : m) s += kv.second; return s; }

int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 50;
  auto shapes = make_shapes(n);
  std::sort(shapes.begin(), shapes.end(), [](const auto &a, const auto &b) { return a->area() < b->area(); });
  std::map<std::string, double> areas;
  for (auto &s : shapes) areas[s->name()] += s->area();
  std::vector<geo::Vec<double>> dv; std::vector<geo::Vec<int>> iv; std::vector<geo::Vec<long>> lv;
  for (int i = 0; i < n; i++) { dv.push_back({i * 0.5, i * 1.5}); iv.push_back({i, -i}); lv.push_back({i * 3L, i * 7L}); }
  std::map<int, long> im; for (int i = 0; i < n; i++) im[i % 17] += i;
  std::printf("%f %f %d %ld %ld\\n", sum_map(areas), geo::total(dv), geo::total(iv), geo::total(lv), sum_map(im));
  return 0;
}
`;

export const rustProgram = `use std::collections::HashMap;
use std::fmt::Write;

trait Shape { fn area(&self) -> f64; fn label(&self) -> String; }
struct Rect { w: f64, h: f64 }
struct Circle { r: f64 }
impl Shape for Rect { fn area(&self) -> f64 { self.w * self.h } fn label(&self) -> String { format!("rect {}x{}", self.w, self.h) } }
impl Shape for Circle { fn area(&self) -> f64 { 3.14159 * self.r * self.r } fn label(&self) -> String { format!("circle {}", self.r) } }

mod stats {
    pub fn mean<T: Copy + Into<f64>>(xs: &[T]) -> f64 { xs.iter().map(|&x| x.into()).sum::<f64>() / xs.len().max(1) as f64 }
    #[inline(never)]
    pub fn histogram(words: &[String]) -> std::collections::BTreeMap<usize, usize> {
        let mut m = std::collections::BTreeMap::new();
        for w in words { *m.entry(w.len()).or_insert(0) += 1; }
        m
    }
}

#[inline(never)]
fn shapes(n: usize) -> Vec<Box<dyn Shape>> {
    (0..n).map(|i| -> Box<dyn Shape> { if i % 3 == 0 { Box::new(Circle { r: i as f64 }) } else { Box::new(Rect { w: i as f64, h: (i + 1) as f64 }) } }).collect()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(40);
    let mut v = shapes(n);
    v.sort_by(|a, b| a.area().partial_cmp(&b.area()).unwrap());
    let mut counts: HashMap<String, usize> = HashMap::new();
    for s in &v { *counts.entry(s.label()).or_default() += 1; }
    let words: Vec<String> = counts.keys().cloned().collect();
    let h = stats::histogram(&words);
    let xs: Vec<u32> = (0..n as u32).collect();
    let mut out = String::new();
    write!(out, "{} {:?} {}", stats::mean(&xs), h, v.len()).unwrap();
    println!("{}", out);
}
`;
