//! Numbers printed as C's `printf("%W.Pf")` prints them, so brisk's report lines read like
//! llama.cpp's: Rust agrees for finite values; NaN and infinities are spelt `nan`, `-nan`,
//! `inf`, `-inf`.
pub fn f(v: f64, width: usize, prec: usize) -> String {
    if v.is_finite() {
        return format!("{v:width$.prec$}");
    }
    let word = match (v.is_nan(), v.is_sign_negative()) {
        (true, false) => "nan",
        (true, true) => "-nan",
        (false, false) => "inf",
        (false, true) => "-inf",
    };
    format!("{word:>width$}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_printf() {
        assert_eq!(super::f(1.23456, 9, 4), "   1.2346");
        assert_eq!(super::f(-0.0001, 6, 3), "-0.000");
        assert_eq!(super::f(f64::NAN, 6, 3), "   nan");
        assert_eq!(super::f(-f64::INFINITY, 5, 3), " -inf");
    }
}
