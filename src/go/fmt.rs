//! Go's `fmt` printing (Go 1.22): `Sprint`, `Sprintln` and `Sprintf`, as templates'
//! `print`, `println` and `printf` call them.
//!
//! Go's `fmt` works on `interface{}` values through reflection. Here an operand is
//! anything that implements [`Arg`]: it says which of the kinds `fmt` treats specially
//! it is ([`Operand`]), its Go type name (for `%!d(string=x)`), and how `%v` prints it.
//! `C` is whatever an operand needs to print itself (the template engine's values need
//! the data behind `.`), so printing needs no intermediate copies.
//!
//! `Sprintf` supports the verbs templates use: `%v %s %q %d %b %o %O %x %X %c %U %e %E
//! %f %F %g %G %t %%`, the flags `-+# 0`, width and precision, also from arguments
//! (`%*d`, `%.*f`), and Go's error forms (`%!d(string=x)`, `%!v(MISSING)`,
//! `%!(EXTRA …)`, `%!(NOVERB)`, `%!(BADWIDTH)`, `%!(BADPREC)`). Argument indexes
//! (`%[1]d`) are not supported. Composite values (maps, lists) print with their `%v`
//! text under `%s` too, where Go would apply the verb to each element.

use std::fmt::Write as _;

use super::strconv::{format_float, quote, quote_rune};

/// What `fmt` needs to know about an operand's kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand<'a> {
    /// A nil interface (`<nil>`).
    Nil,
    /// A `bool`.
    Bool(bool),
    /// Any signed integer.
    Int(i64),
    /// A `float64`.
    Float(f64),
    /// A `string`.
    Str(&'a str),
    /// Anything else (times, maps, slices): `%v` and `%s` print [`Arg::write_v`].
    Other,
}

/// An operand of `Sprint`/`Sprintf`; `C` is what it needs to print itself.
pub trait Arg<C: ?Sized> {
    /// Its kind, for the verbs.
    fn operand(&self) -> Operand<'_>;
    /// Its Go type name (`int`, `map[string]interface {}`), for error forms.
    fn type_name(&self) -> &'static str;
    /// Appends its `%v` text.
    fn write_v(&self, cx: &C, out: &mut String);
}

fn v_string<C: ?Sized, A: Arg<C>>(a: &A, cx: &C) -> String {
    let mut s = String::new();
    a.write_v(cx, &mut s);
    s
}

/// Go's `fmt.Sprint`: the operands' `%v` texts, with a space between two operands
/// when neither is a string.
pub fn sprint<C: ?Sized, A: Arg<C>>(args: &[A], cx: &C) -> String {
    let mut out = String::new();
    let mut prev_str = false;
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a.operand(), Operand::Str(_));
        if i > 0 && !is_str && !prev_str {
            out.push(' ');
        }
        a.write_v(cx, &mut out);
        prev_str = is_str;
    }
    out
}

/// Go's `fmt.Sprintln`: the operands' `%v` texts separated by spaces, and a newline.
pub fn sprintln<C: ?Sized, A: Arg<C>>(args: &[A], cx: &C) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_v(cx, &mut out);
    }
    out.push('\n');
    out
}

/// Go's `fmt.Sprintf` (see the module documentation for what is supported).
pub fn sprintf<C: ?Sized, A: Arg<C>>(format: &str, args: &[A], cx: &C) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        loop {
            match chars.peek() {
                Some('-') => spec.minus = true,
                Some('+') => spec.plus = true,
                Some('#') => spec.sharp = true,
                Some(' ') => spec.space = true,
                Some('0') => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<usize> {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        if chars.peek() == Some(&'*') {
            chars.next();
            match int_from_arg(args, &mut argi) {
                Some(w) => {
                    // A negative width from an argument means left-justify.
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            spec.width = digits(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                match int_from_arg(args, &mut argi) {
                    Some(p) if p >= 0 => spec.prec = Some(p as usize),
                    // Negative precisions make no sense: Go drops them silently.
                    Some(_) => {}
                    None => out.push_str("%!(BADPREC)"),
                }
            } else {
                spec.prec = Some(digits(&mut chars).unwrap_or(0));
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        out.push_str(&format_arg(verb, arg, &spec, cx));
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(a.type_name());
            out.push('=');
            a.write_v(cx, &mut out);
        }
        out.push(')');
    }
    out
}

/// Go's `intFromArg`: a `*` width or precision must be an integer argument of at most
/// a million in size; `None` when it is not (or is missing, which consumes nothing).
fn int_from_arg<C: ?Sized, A: Arg<C>>(args: &[A], argi: &mut usize) -> Option<i64> {
    let a = args.get(*argi)?;
    *argi += 1;
    match a.operand() {
        Operand::Int(n) if n.abs() <= 1_000_000 => Some(n),
        _ => None,
    }
}

/// The flags, width and precision of one verb.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, s: String, numeric: bool) -> String {
        let Some(w) = self.width else { return s };
        let n = s.chars().count();
        if n >= w {
            return s;
        }
        let fill = w - n;
        if self.minus {
            return s + &" ".repeat(fill);
        }
        if self.zero && numeric {
            let (sign, rest) = match s.chars().next() {
                Some(c @ ('+' | '-' | ' ')) => (c.to_string(), s[1..].to_string()),
                _ => (String::new(), s.clone()),
            };
            return sign + &"0".repeat(fill) + &rest;
        }
        " ".repeat(fill) + &s
    }

    fn sign(&self, neg: bool, body: String) -> String {
        if neg {
            format!("-{body}")
        } else if self.plus {
            format!("+{body}")
        } else if self.space {
            format!(" {body}")
        } else {
            body
        }
    }
}

/// `%!verb(type=value)`, Go's form for a verb that does not fit the operand.
fn bad_verb<C: ?Sized, A: Arg<C>>(verb: char, a: &A, cx: &C) -> String {
    match a.operand() {
        Operand::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", a.type_name(), v_string(a, cx)),
    }
}

fn format_arg<C: ?Sized, A: Arg<C>>(verb: char, a: &A, spec: &Spec, cx: &C) -> String {
    match (verb, a.operand()) {
        ('v', Operand::Float(f)) => spec.pad(float_verb(f, 'g', spec), true),
        ('v' | 'd', Operand::Int(i)) => {
            spec.pad(spec.sign(i < 0, i.unsigned_abs().to_string()), true)
        }
        ('v', Operand::Str(s)) if spec.sharp => spec.pad(quote(s), false),
        ('v', Operand::Nil) => spec.pad("<nil>".to_string(), false),
        ('v', _) | ('s', Operand::Other) => spec.pad(v_string(a, cx), false),
        ('s', Operand::Str(s)) => {
            let s: String = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            spec.pad(s, false)
        }
        ('q', Operand::Str(s)) => spec.pad(quote(s), false),
        ('q', Operand::Int(i)) => spec.pad(quote_rune(rune(i)), false),
        ('t', Operand::Bool(b)) => spec.pad(b.to_string(), false),
        ('c', Operand::Int(i)) => spec.pad(
            char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string(),
            false,
        ),
        ('U', Operand::Int(i)) => spec.pad(format!("U+{i:04X}"), false),
        ('b' | 'o' | 'O' | 'x' | 'X', Operand::Int(i)) => {
            let a = i.unsigned_abs();
            let mut body = match verb {
                'b' => format!("{a:b}"),
                'o' | 'O' => format!("{a:o}"),
                'x' => format!("{a:x}"),
                _ => format!("{a:X}"),
            };
            if spec.sharp || verb == 'O' {
                body = match verb {
                    'b' => format!("0b{body}"),
                    'o' => format!("0{body}"),
                    'O' => format!("0o{body}"),
                    'x' => format!("0x{body}"),
                    _ => format!("0X{body}"),
                };
            }
            spec.pad(spec.sign(i < 0, body), true)
        }
        ('x' | 'X', Operand::Str(s)) => {
            let mut h = String::with_capacity(2 * s.len());
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(h, "{b:02x}")
                } else {
                    write!(h, "{b:02X}")
                };
            }
            spec.pad(h, false)
        }
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Operand::Float(f)) => {
            spec.pad(float_verb(f, verb, spec), true)
        }
        _ => bad_verb(verb, a, cx),
    }
}

/// The rune `%q`/`%c` print for an integer: U+FFFD when it is not a code point.
fn rune(i: i64) -> char {
    u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}

fn float_verb(f: f64, verb: char, spec: &Spec) -> String {
    if f.is_nan() {
        return if spec.plus {
            "+NaN"
        } else if spec.space {
            " NaN"
        } else {
            "NaN"
        }
        .into();
    }
    if f.is_infinite() {
        // Go prints the sign of infinities with every verb.
        return if f < 0.0 { "-Inf" } else { "+Inf" }.into();
    }
    let prec = |default: i32| {
        spec.prec
            .map_or(default, |p| i32::try_from(p).unwrap_or(i32::MAX))
    };
    let body = match verb {
        'f' | 'F' | 'e' | 'E' => format_float(f.abs(), verb, prec(6)),
        'G' => format_float(f.abs(), 'G', prec(-1)),
        _ => format_float(f.abs(), 'g', prec(-1)),
    };
    spec.sign(f.is_sign_negative(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for an `interface{}` operand.
    enum V {
        Nil,
        B(bool),
        I(i64),
        F(f64),
        S(&'static str),
        L(Vec<V>),
    }

    impl Arg<()> for V {
        fn operand(&self) -> Operand<'_> {
            match self {
                V::Nil => Operand::Nil,
                V::B(b) => Operand::Bool(*b),
                V::I(i) => Operand::Int(*i),
                V::F(f) => Operand::Float(*f),
                V::S(s) => Operand::Str(s),
                V::L(_) => Operand::Other,
            }
        }
        fn type_name(&self) -> &'static str {
            match self {
                V::Nil => "<nil>",
                V::B(_) => "bool",
                V::I(_) => "int",
                V::F(_) => "float64",
                V::S(_) => "string",
                V::L(_) => "[]interface {}",
            }
        }
        fn write_v(&self, _: &(), out: &mut String) {
            match self {
                V::Nil => out.push_str("<nil>"),
                V::B(b) => out.push_str(&b.to_string()),
                V::I(i) => out.push_str(&i.to_string()),
                V::F(f) => out.push_str(&format_float(*f, 'g', -1)),
                V::S(s) => out.push_str(s),
                V::L(l) => {
                    out.push('[');
                    for (i, v) in l.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        v.write_v(&(), out);
                    }
                    out.push(']');
                }
            }
        }
    }

    fn f(format: &str, args: &[V]) -> String {
        sprintf(format, args, &())
    }

    #[test]
    fn sprintf_like_go() {
        use V::*;
        assert_eq!(
            f("%d|%5d|%-5d|%05d|%+d", &[I(42), I(42), I(42), I(-42), I(7)]),
            "42|   42|42   |-0042|+7"
        );
        assert_eq!(
            f("%5.2f|%e|%g|%G", &[F(1.23456), F(1.5e6), F(1e-7), F(1e21)]),
            " 1.23|1.500000e+06|1e-07|1E+21"
        );
        assert_eq!(
            f("%v %v %v", &[F(2.5), F(1e6), F(f64::NEG_INFINITY)]),
            "2.5 1e+06 -Inf"
        );
        assert_eq!(
            f(
                "%s|%.2s|%q|%#v|%x|%X",
                &[S("héllo"), S("héllo"), S("a\"b"), S("x"), S("hi"), S("hi")]
            ),
            "héllo|hé|\"a\\\"b\"|\"x\"|6869|6869"
        );
        assert_eq!(
            f("%q %q %c %U", &[I(97), I(39), I(0x263A), I(0x263A)]),
            "'a' '\\'' ☺ U+263A"
        );
        assert_eq!(
            f("%b %o %O %#x %X", &[I(5), I(8), I(8), I(255), I(-255)]),
            "101 10 0o10 0xff -FF"
        );
        assert_eq!(
            f("%t %v %s", &[B(true), Nil, L(vec![I(1), S("a")])]),
            "true <nil> [1 a]"
        );
        assert_eq!(f("%d %s", &[S("x"), I(1)]), "%!d(string=x) %!s(int=1)");
        assert_eq!(f("%s", &[Nil]), "%!s(<nil>)");
        assert_eq!(f("%d %d", &[I(1)]), "1 %!d(MISSING)");
        assert_eq!(
            f("%d", &[I(1), S("x"), F(1.5)]),
            "1%!(EXTRA string=x, float64=1.5)"
        );
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
        assert_eq!(
            f(
                "%+.1f|% f|%+v",
                &[F(f64::NAN), F(f64::NAN), F(f64::INFINITY)]
            ),
            "+NaN| NaN|+Inf"
        );
    }

    #[test]
    fn star_width_and_precision_like_go() {
        use V::*;
        assert_eq!(f("%*d|", &[I(4), I(7)]), "   7|");
        assert_eq!(f("%*d|", &[I(-4), I(7)]), "7   |");
        assert_eq!(f("%.*f", &[I(2), F(1.23456)]), "1.23");
        assert_eq!(f("%*d", &[S("4"), I(7)]), "%!(BADWIDTH)7");
        assert_eq!(f("%.*f", &[F(2.0), F(1.0)]), "%!(BADPREC)1.000000");
        assert_eq!(f("%.*f", &[I(-1), F(1.0)]), "1.000000");
    }

    #[test]
    fn sprint_and_sprintln_like_go() {
        use V::*;
        assert_eq!(
            sprint(&[I(1), I(2), S("a"), I(3), S("b"), S("c")], &()),
            "1 2a3bc"
        );
        assert_eq!(sprintln(&[I(1), S("a"), Nil], &()), "1 a <nil>\n");
        assert_eq!(sprint::<(), V>(&[], &()), "");
    }
}
