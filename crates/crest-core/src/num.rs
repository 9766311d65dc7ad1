//! Numbers that behave exactly like Python's.
//!
//! Several detectors replace Python tools whose outputs users compare digit for digit. Python
//! keeps integers and floats apart (`1` and `1.0` print differently), compares them exactly,
//! divides integers with correct rounding, rounds half to even, and since 3.11 computes the
//! sample standard deviation as the correctly rounded square root of an exact rational. The
//! helpers here reproduce each of those rules; their tests pin the cases that differ from the
//! obvious `f64` code.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigUint;

/// A Python number: an `int` or a `float`, kept apart because they print differently.
#[derive(Clone, Copy, Debug)]
pub enum PyNum {
    /// A Python `int` (crest keeps them to 64 bits and reports anything larger as an error).
    Int(i64),
    /// A Python `float`.
    Float(f64),
}

/// An arithmetic result that Python would give but 64-bit integers cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("number out of range (beyond 64-bit integers)")]
pub struct Overflow;

impl PyNum {
    /// The value as a float, as Python converts an `int` operand of a mixed operation.
    pub fn to_f64(self) -> f64 {
        match self {
            PyNum::Int(i) => int_to_f64(i),
            PyNum::Float(f) => f,
        }
    }

    /// Python's `a > b`, exact across `int` and `float`.
    pub fn gt(self, other: PyNum) -> bool {
        self.partial_cmp_py(other) == Some(Ordering::Greater)
    }

    /// Python's `a >= b`, exact across `int` and `float`.
    pub fn ge(self, other: PyNum) -> bool {
        matches!(self.partial_cmp_py(other), Some(Ordering::Greater | Ordering::Equal))
    }

    /// Exact comparison with Python semantics (`None` when a NaN is involved).
    pub fn partial_cmp_py(self, other: PyNum) -> Option<Ordering> {
        match (self, other) {
            (PyNum::Int(a), PyNum::Int(b)) => Some(a.cmp(&b)),
            (PyNum::Float(a), PyNum::Float(b)) => a.partial_cmp(&b),
            (PyNum::Int(a), PyNum::Float(b)) => cmp_int_float(a, b),
            (PyNum::Float(a), PyNum::Int(b)) => cmp_int_float(b, a).map(Ordering::reverse),
        }
    }

    /// Python's `max(a, b)`: `b` only when `b > a`, so a tie keeps `a` and its type.
    pub fn max_keep_first(a: PyNum, b: PyNum) -> PyNum {
        if b.gt(a) { b } else { a }
    }

    /// Python's `a + b` (`Err` where an `int` result leaves 64 bits).
    pub fn plus(self, other: PyNum) -> Result<PyNum, Overflow> {
        match (self, other) {
            (PyNum::Int(a), PyNum::Int(b)) => a.checked_add(b).map(PyNum::Int).ok_or(Overflow),
            (a, b) => Ok(PyNum::Float(a.to_f64() + b.to_f64())),
        }
    }

    /// Python's `a * b` (`Err` where an `int` result leaves 64 bits).
    pub fn times(self, other: PyNum) -> Result<PyNum, Overflow> {
        match (self, other) {
            (PyNum::Int(a), PyNum::Int(b)) => a.checked_mul(b).map(PyNum::Int).ok_or(Overflow),
            (a, b) => Ok(PyNum::Float(a.to_f64() * b.to_f64())),
        }
    }

    /// Python's true division `a / b` (always a float; `None` on division by zero).
    pub fn true_div(self, other: PyNum) -> Option<f64> {
        match (self, other) {
            (_, PyNum::Int(0)) => None,
            (PyNum::Int(a), PyNum::Int(b)) => Some(int_true_div(a, b)),
            (_, b) if b.to_f64() == 0.0 => None,
            (a, b) => Some(a.to_f64() / b.to_f64()),
        }
    }

    /// Python's `round(x)`: half to even, returning an `int`.
    pub fn round_half_even(self) -> Result<i64, Overflow> {
        match self {
            PyNum::Int(i) => Ok(i),
            PyNum::Float(f) => round_half_even(f),
        }
    }

    /// The mean of `sum / n` as Python's `statistics.mean` gives it for integer data: an `int`
    /// when the division is exact, otherwise the correctly rounded `float`.
    pub fn int_mean(sum: i64, n: i64) -> PyNum {
        if n != 0 && sum % n == 0 {
            PyNum::Int(sum / n)
        } else {
            PyNum::Float(int_true_div(sum, n))
        }
    }
}

impl fmt::Display for PyNum {
    /// Python's `str()`: integers as integers, floats in their shortest round-trip form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyNum::Int(i) => write!(f, "{i}"),
            PyNum::Float(x) => f.write_str(&py_float_repr(*x)),
        }
    }
}

impl From<i64> for PyNum {
    fn from(i: i64) -> Self {
        PyNum::Int(i)
    }
}

impl From<f64> for PyNum {
    fn from(f: f64) -> Self {
        PyNum::Float(f)
    }
}

/// 2^63, the first float beyond `i64`.
const TWO_POW_63: f64 = (1u64 << 63) as f64;

/// Largest magnitude up to which every integer is exactly representable as an `f64`.
const F64_EXACT_INT: i64 = 1 << 53;

/// Converts an `i64` to the nearest `f64` (ties to even), as Python's `float(int)` does.
fn int_to_f64(i: i64) -> f64 {
    i as f64
}

/// Python's exact comparison of an `int` with a `float`.
fn cmp_int_float(a: i64, b: f64) -> Option<Ordering> {
    if b.is_nan() {
        return None;
    }
    if (-F64_EXACT_INT..=F64_EXACT_INT).contains(&a) {
        return (a as f64).partial_cmp(&b);
    }
    // Beyond 2^53 compare in the integers: every float this large is itself an integer.
    if b >= TWO_POW_63 {
        return Some(Ordering::Less);
    }
    if b < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    let bt = b.trunc();
    let bi = bt as i64;
    Some(a.cmp(&bi).then(if b > bt {
        Ordering::Less
    } else if b < bt {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

/// Python's `int / int`: the correctly rounded quotient. Panics never; `b == 0` gives NaN.
pub fn int_true_div(a: i64, b: i64) -> f64 {
    if b == 0 {
        return f64::NAN;
    }
    if a.unsigned_abs() <= F64_EXACT_INT as u64 && b.unsigned_abs() <= F64_EXACT_INT as u64 {
        // Both operands are exact, and IEEE division rounds correctly.
        return a as f64 / b as f64;
    }
    let q = ratio_to_f64(&BigUint::from(a.unsigned_abs()), &BigUint::from(b.unsigned_abs()));
    if (a < 0) != (b < 0) { -q } else { q }
}

/// Python's `round(x)` for a float: half to even, to an integer.
pub fn round_half_even(x: f64) -> Result<i64, Overflow> {
    let r = x.round_ties_even();
    if r.is_finite() && (-TWO_POW_63..TWO_POW_63).contains(&r) {
        Ok(r as i64)
    } else {
        Err(Overflow)
    }
}

/// Python's `round(x, 2)`: rounds the exact binary value of `x` to two decimals, ties to even.
///
/// `0.125 → 0.12` and `0.375 → 0.38` are true ties; `2.675 → 2.67` and `0.505 → 0.51` follow
/// the binary value, which lies just below and just above the decimal.
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Rust's fixed-precision formatting is exact and rounds ties to even, like Python's dtoa.
    format!("{x:.2}").parse().unwrap_or(x)
}

/// The correctly rounded `f64` nearest to `num / den` (`den > 0`).
pub fn ratio_to_f64(num: &BigUint, den: &BigUint) -> f64 {
    if num.bits() == 0 {
        return 0.0;
    }
    // Scale so that the integer quotient has 55..57 significant bits, then round to odd: the
    // sticky bit below the 53-bit mantissa makes the final round-to-nearest-even correct.
    let shift = 56 - (num.bits() as i64 - den.bits() as i64);
    let (n, d) = scale(num, den, shift);
    let q = &n / &d;
    let exact = (&q * &d) == n;
    finish_round_to_odd(q, exact, -shift)
}

/// The correctly rounded `f64` nearest to `sqrt(num / den)` (`den > 0`), as Python 3.11's
/// `statistics` module computes it.
pub fn sqrt_ratio(num: &BigUint, den: &BigUint) -> f64 {
    if num.bits() == 0 {
        return 0.0;
    }
    // sqrt(num / den) · 2^e with 55..57 significant bits: scale the ratio by 2^(2e).
    let e = 56 - (num.bits() as i64 - den.bits() as i64) / 2;
    let (n, d) = scale(num, den, 2 * e);
    let q = &n / &d;
    let s = q.sqrt();
    let exact = (&q * &d) == n && (&s * &s) == q;
    finish_round_to_odd(s, exact, -e)
}

/// Returns `(num · 2^shift, den)` or `(num, den · 2^-shift)`, keeping both integers.
fn scale(num: &BigUint, den: &BigUint, shift: i64) -> (BigUint, BigUint) {
    if shift >= 0 {
        (num << shift as u64, den.clone())
    } else {
        (num.clone(), den << (-shift) as u64)
    }
}

/// Rounds the truncated integer `t` (with a sticky `!exact` bit) to an `f64`, times `2^exp2`.
fn finish_round_to_odd(t: BigUint, exact: bool, exp2: i64) -> f64 {
    let digits = t.to_u64_digits();
    debug_assert!(digits.len() <= 1, "the scaled quotient has at most 57 bits");
    let mut v = digits.first().copied().unwrap_or(0);
    if !exact {
        v |= 1;
    }
    // `as` rounds to nearest, ties to even; the odd sticky bit makes that the correct rounding.
    (v as f64) * pow2(exp2)
}

/// `2^k` as an exact `f64` (saturating to 0 or infinity far outside the normal range).
fn pow2(k: i64) -> f64 {
    if k > 1023 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        // Subnormal scales: apply in two exact steps.
        pow2(k + 1022) * pow2(-1022)
    }
}

/// Python's sample standard deviation (`statistics.stdev`) of integer data given by its count
/// `n`, sum and sum of squares: the correctly rounded square root of
/// `(n·Σx² − (Σx)²) / (n·(n−1))`. Returns `0.0` when `n < 2`, as crest's callers require.
pub fn sample_std(n: u64, sum: u128, sum_sq: u128) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let n_big = BigUint::from(n);
    let num = &n_big * BigUint::from(sum_sq) - BigUint::from(sum) * BigUint::from(sum);
    let den = &n_big * BigUint::from(n - 1);
    sqrt_ratio(&num, &den)
}

/// Python's `repr(float)`: the shortest string that reads back to the same value, with `.0` on
/// integral values and an exponent (`1e-05`, `1e+16`) only outside `[1e-4, 1e16)`.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // `{:e}` gives the shortest round-trip digits: "d.ddde-X".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round2_follows_the_exact_binary_value() {
        for (x, want) in [
            (0.125, 0.12),
            (0.375, 0.38),
            (0.625, 0.62),
            (0.875, 0.88),
            (2.675, 2.67),
            (0.505, 0.51),
            (0.015, 0.01),
            (4.215846994535519, 4.22),
            (11.492695486899816, 11.49),
            (1.0, 1.0),
            (-0.125, -0.12),
        ] {
            assert_eq!(round2(x), want, "round2({x})");
        }
    }

    #[test]
    fn round_half_even_to_integers() {
        for (x, want) in
            [(860.5, 860), (244.5, 244), (4.5, 4), (5.5, 6), (0.5, 0), (1.5, 2), (-2.5, -2)]
        {
            assert_eq!(round_half_even(x), Ok(want), "round({x})");
        }
        assert_eq!(round_half_even(f64::NAN), Err(Overflow));
        assert_eq!(round_half_even(1e300), Err(Overflow));
    }

    #[test]
    fn float_repr_matches_python() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (4.215846994535519, "4.215846994535519"),
            (1.3076923076923077, "1.3076923076923077"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-5, "1.5e-05"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (-2.5, "-2.5"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(py_float_repr(x), want, "repr({x:?})");
        }
    }

    #[test]
    fn mixed_comparisons_are_exact() {
        let big = (1i64 << 53) + 1;
        assert!(PyNum::Int(big).gt(PyNum::Float(9007199254740992.0)));
        assert!(PyNum::Float(2.5).gt(PyNum::Int(2)));
        assert!(PyNum::Int(3).ge(PyNum::Float(3.0)));
        assert!(!PyNum::Int(3).gt(PyNum::Float(3.0)));
        assert!(PyNum::Int(i64::MAX).gt(PyNum::Float(-1e300)));
        assert!(PyNum::Float(1e300).gt(PyNum::Int(i64::MAX)));
        assert!(!PyNum::Int(1).gt(PyNum::Float(f64::NAN)));
    }

    #[test]
    fn max_keeps_the_first_argument_on_ties() {
        let m = PyNum::max_keep_first(PyNum::Float(1.0), PyNum::Int(1));
        assert!(matches!(m, PyNum::Float(f) if f == 1.0));
        let m = PyNum::max_keep_first(PyNum::Int(1), PyNum::Float(1.0));
        assert!(matches!(m, PyNum::Int(1)));
        let m = PyNum::max_keep_first(PyNum::Int(1), PyNum::Float(1.5));
        assert!(matches!(m, PyNum::Float(f) if f == 1.5));
    }

    #[test]
    fn means_are_ints_when_exact() {
        assert!(matches!(PyNum::int_mean(20, 2), PyNum::Int(10)));
        assert!(matches!(PyNum::int_mean(1543, 366), PyNum::Float(f) if f == 1543.0 / 366.0));
    }

    #[test]
    fn std_of_known_samples() {
        // Two samples submitted 10 times each: std 0.0.
        assert_eq!(sample_std(2, 20, 200), 0.0);
        assert_eq!(sample_std(1, 5, 25), 0.0);
        // statistics.stdev([1, 2, 3, 4]) == 1.2909944487358056
        assert_eq!(sample_std(4, 10, 30), 1.2909944487358056);
        // statistics.stdev([1, 1, 1, 5]) == 2.0
        assert_eq!(sample_std(4, 8, 28), 2.0);
    }

    /// Splits a positive finite double into `m · 2^k` with an integer mantissa `m`.
    fn decompose(r: f64) -> (i128, i64) {
        let bits = r.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = (bits & ((1 << 52) - 1)) as i128;
        if exp == 0 { (frac, -1074) } else { (frac | (1 << 52), exp - 1075) }
    }

    /// Independent check of correct rounding: `r = m·2^k` is the nearest double to the exact
    /// value `v` iff the midpoints `(2m ± 1)·2^(k-1)` bracket `v` (ties need an even `m`).
    /// `cmp_mid(mid, e)` compares `mid · 2^e` with `v` in exact integer arithmetic.
    fn brackets(r: f64, cmp_mid: impl Fn(&num_bigint::BigInt, i64) -> Ordering) -> bool {
        use num_bigint::BigInt;
        let (m, k) = decompose(r);
        let lo = cmp_mid(&BigInt::from(2 * m - 1), k - 1);
        let hi = cmp_mid(&BigInt::from(2 * m + 1), k - 1);
        let lo_ok = lo == Ordering::Less || (lo.is_eq() && m % 2 == 0);
        let hi_ok = hi == Ordering::Greater || (hi.is_eq() && m % 2 == 0);
        lo_ok && hi_ok
    }

    /// Compares `a · 2^e` with `b` for integers.
    fn cmp_scaled(a: num_bigint::BigInt, e: i64, b: num_bigint::BigInt) -> Ordering {
        if e >= 0 { (a << e as u64).cmp(&b) } else { a.cmp(&(b << (-e) as u64)) }
    }

    /// `r` is the correctly rounded `sqrt(num/den)`: compare `mid² · 2^(2e) · den` with `num`.
    fn is_correctly_rounded_sqrt(r: f64, num: u128, den: u128) -> bool {
        use num_bigint::BigInt;
        brackets(r, |mid, e| cmp_scaled(mid * mid * BigInt::from(den), 2 * e, BigInt::from(num)))
    }

    /// `q` is the correctly rounded `a/b` for positive `a`, `b`: compare `mid·2^e·b` with `a`.
    fn is_correctly_rounded_div(q: f64, a: u64, b: u64) -> bool {
        use num_bigint::BigInt;
        brackets(q, |mid, e| cmp_scaled(mid * BigInt::from(b), e, BigInt::from(a)))
    }

    proptest! {
        #[test]
        fn std_is_correctly_rounded(counts in prop::collection::vec(1u64..5000, 2..200)) {
            let n = counts.len() as u64;
            let sum: u128 = counts.iter().map(|&c| c as u128).sum();
            let sum_sq: u128 = counts.iter().map(|&c| (c as u128) * (c as u128)).sum();
            let r = sample_std(n, sum, sum_sq);
            let num = n as u128 * sum_sq - sum * sum;
            let den = n as u128 * (n as u128 - 1);
            if num == 0 {
                prop_assert_eq!(r, 0.0);
            } else {
                prop_assert!(is_correctly_rounded_sqrt(r, num, den), "{r} for {num}/{den}");
            }
        }

        #[test]
        fn sqrt_ratio_is_correctly_rounded(num in 1u128..u128::MAX >> 8, den in 1u128..u128::MAX >> 8) {
            let r = sqrt_ratio(&BigUint::from(num), &BigUint::from(den));
            prop_assert!(is_correctly_rounded_sqrt(r, num, den), "{r} for {num}/{den}");
        }

        #[test]
        fn int_division_is_correctly_rounded(
            a in any::<i64>().prop_filter("nonzero", |a| *a != 0),
            b in any::<i64>().prop_filter("nonzero", |b| *b != 0),
        ) {
            let q = int_true_div(a, b);
            prop_assert_eq!(q < 0.0, (a < 0) != (b < 0));
            prop_assert!(is_correctly_rounded_div(q.abs(), a.unsigned_abs(), b.unsigned_abs()), "{a}/{b} = {q}");
        }

        #[test]
        fn ratio_matches_float_division_when_exact(a in 0u64..(1 << 53), b in 1u64..(1 << 53)) {
            prop_assert_eq!(ratio_to_f64(&BigUint::from(a), &BigUint::from(b)), a as f64 / b as f64);
        }

        #[test]
        fn float_repr_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let s = py_float_repr(x);
            prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits());
            prop_assert!(s.contains('.') || s.contains('e'), "{}", s);
        }

        #[test]
        fn round2_is_the_nearest_two_place_decimal(x in 0.0f64..1e6) {
            // Exact check: with x = m·2^k and r printed as the integer c hundredths,
            // |x − c/100| ≤ |x − (c ± 1)/100|, i.e. |100·m·2^k − c| ≤ 1/2, in integers.
            use num_bigint::BigInt;
            let r = round2(x);
            let c: i64 = format!("{r:.2}").replace('.', "").parse().unwrap();
            let (m, k) = if x == 0.0 { (0, 0) } else { decompose(x) };
            // 2·|100·m·2^k − c| ≤ 1  ⇔  |200·m·2^k − 2c| ≤ 1
            let lhs = BigInt::from(200 * m);
            let twice_c = BigInt::from(2 * c);
            let (a, b) = if k >= 0 { (lhs << k as u64, twice_c) } else { (lhs, twice_c << (-k) as u64) };
            let diff = if a > b { &a - &b } else { &b - &a };
            let unit = if k >= 0 { BigInt::from(1) } else { BigInt::from(1) << (-k) as u64 };
            prop_assert!(diff <= unit, "round2({x}) = {r}");
            if diff == unit {
                prop_assert!(c % 2 == 0, "tie must go to even: round2({x}) = {r}");
            }
        }
    }
}
