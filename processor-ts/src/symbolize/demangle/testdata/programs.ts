/** C++ source exercising templates, namespaces, lambdas, operators and declarators for the demangler oracle. */
export const cppDemangleProgram = String.raw`#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace geo {
template <typename T, int N> struct Vec {
  T v[N];
  Vec operator+(const Vec &o) const { Vec r{}; for (int i = 0; i < N; i++) r.v[i] = v[i] + o.v[i]; return r; }
  T &operator[](int i) { return v[i]; }
  bool operator==(const Vec &o) const { return std::equal(v, v + N, o.v); }
  explicit operator bool() const { return v[0] != T(); }
  template <typename U> Vec<U, N> cast() const { Vec<U, N> r{}; for (int i = 0; i < N; i++) r.v[i] = U(v[i]); return r; }
};
namespace {
struct Hidden { virtual ~Hidden() {} virtual int f(int x) { return x * 2; } };
struct Derived : Hidden { int f(int x) override { return x + 1; } };
}
struct Base1 { virtual ~Base1() {} virtual int a() { return 1; } };
struct Base2 { virtual ~Base2() {} virtual int b() { return 2; } };
struct Multi : Base1, Base2 { int b() override { return 3; } };
struct VBase { virtual ~VBase() {} int x = 0; };
struct VD1 : virtual VBase { virtual int g() { return 4; } };
struct VD2 : virtual VBase {};
struct Diamond : VD1, VD2 { int g() override { return 5; } };
} // namespace geo

template <typename... Ts> __attribute__((noinline)) size_t count_args(Ts &&...ts) { return sizeof...(ts); }
template <typename F> __attribute__((noinline)) int apply_fn(F f, int x) { return f(x); }
__attribute__((noinline)) int call_ptr(int (*fp)(int), int x) { return fp(x); }
__attribute__((noinline)) int twice(int x) { return x * 2; }
struct Widget { int m = 3; int get() const { return m; } double arr[4]; };
__attribute__((noinline)) int call_member(int (Widget::*pm)() const, const Widget &w) { return (w.*pm)(); }
__attribute__((noinline)) double idx(double (&a)[4], int i) { return a[i]; }
__attribute__((noinline)) int data_member(int Widget::*p, Widget *w) { return w->*p; }
template <int N> __attribute__((noinline)) int fixed() { return N; }
template <char C, bool B> __attribute__((noinline)) int lits() { return C + B; }
long operator""_km(unsigned long long v) { return (long)v * 1000; }
template <typename T> __attribute__((noinline)) auto deduce(T t) -> decltype(t + 1) { return t + 1; }
static thread_local std::string tls_name = "x";

int main(int argc, char **argv) {
  geo::Vec<int, 3> a{{1, 2, 3}}, b{{4, 5, 6}};
  auto c = a + b;
  std::map<std::string, std::vector<int>> m;
  m["k"].push_back(c[1]);
  std::unordered_map<int, std::string> um{{1, "one"}};
  std::vector<std::unique_ptr<geo::Base1>> objs;
  objs.push_back(std::make_unique<geo::Multi>());
  std::unique_ptr<geo::VBase> d(new geo::Diamond());
  std::function<int(int)> fn = [&](int x) { return x + argc; };
  auto gen = [](auto x, auto y) { return x * y; };
  std::ostringstream os;
  os << count_args(1, 2.0, "s") << apply_fn([argc](int v) { return v - argc; }, 7) << call_ptr(twice, argc)
     << gen(2, 3) << gen(1.5, 2.0) << fixed<42>() << lits<'a', true>() << 5_km << deduce(argc) << tls_name;
  Widget w;
  os << call_member(&Widget::get, w) << idx(w.arr, 0) << data_member(&Widget::m, &w);
  os << bool(a) << (a == b) << a.cast<double>().v[0];
  std::vector<std::tuple<int, std::string>> tv{{3, "c"}, {1, "a"}};
  std::sort(tv.begin(), tv.end(), [](const auto &l, const auto &r) { return std::get<0>(l) < std::get<0>(r); });
  for (auto &[k, v] : m) os << k << v.size();
  std::cout << os.str() << fn(argc) << um[1] << objs[0]->a() << std::endl;
  return 0;
}
`;

/** Rust source exercising v0 manglings: const generics, dyn traits, fn pointers, closures, impls. */
export const rustDemangleProgram = String.raw`use std::collections::HashMap;
use std::fmt::Debug;

pub trait Shape { fn area(&self) -> f64; }
pub struct Grid<const W: usize, const NEG: i32, const B: bool, const C: char>([u8; W]);
impl<const W: usize, const NEG: i32, const B: bool, const C: char> Shape for Grid<W, NEG, B, C> {
    #[inline(never)] fn area(&self) -> f64 { (W as f64) * (NEG as f64) + (B as u8 as f64) + (C as u32 as f64) }
}
pub struct Wrapper<T>(T);
impl<T: Debug> Wrapper<T> {
    #[inline(never)] pub fn show(&self) -> String { format!("{:?}", self.0) }
}
#[inline(never)] fn apply<F: Fn(i32) -> i32>(f: F, x: i32) -> i32 { f(x) }
#[inline(never)] fn call_ptr(f: fn(&str) -> usize, s: &str) -> usize { f(s) }
#[inline(never)] fn higher(f: for<'a> fn(&'a [u8]) -> &'a [u8], d: &[u8]) -> usize { f(d).len() }
#[inline(never)] fn sum_dyn(it: &mut dyn Iterator<Item = u8>) -> u32 { it.map(|b| b as u32).sum() }
#[inline(never)] fn boxed(s: Box<dyn Shape + Send>) -> f64 { s.area() }
#[inline(never)] fn tuple_arr(t: (i64, [u16; 4], *const u8, *mut i8)) -> i64 { t.0 + t.1[0] as i64 + t.2 as i64 + t.3 as i64 }
#[inline(never)] extern "C" fn c_abi(x: i32) -> i32 { x + 1 }
#[inline(never)] fn take_extern(f: extern "C" fn(i32) -> i32) -> i32 { f(2) }
fn first(b: &[u8]) -> &[u8] { &b[..1] }
mod inner { pub mod deeper { #[inline(never)] pub fn generic<T: Default + std::fmt::Debug, U>(_: U) -> T { T::default() } } }

fn main() {
    let g = Grid::<3, -7, true, 'x'>([0; 3]);
    let mut m: HashMap<String, Vec<(i32, &str)>> = HashMap::new();
    m.insert("a".into(), vec![(1, "x")]);
    let k = 5;
    let r = apply(move |x| x * k, 3) + apply(|x| x - 1, 4);
    let n = call_ptr(str::len, "abc") + higher(first, b"xyz");
    let mut it = vec![1u8, 2, 3].into_iter();
    let s = sum_dyn(&mut it);
    let w = Wrapper(vec![Some(1u64), None]).show();
    let b = boxed(Box::new(Grid::<2, 1, false, '\n'>([1, 2])));
    let t = tuple_arr((1, [2, 3, 4, 5], std::ptr::null(), std::ptr::null_mut()));
    let d: u64 = inner::deeper::generic::<u64, &str>("z");
    let closures: Vec<Box<dyn Fn() -> i32>> = vec![Box::new(|| 1), Box::new(move || k)];
    println!("{} {:?} {} {} {} {} {} {} {} {} {}", g.area(), m, r, n, s, w, b, t, take_extern(c_abi), d, closures.iter().map(|c| c()).sum::<i32>());
}
`;
