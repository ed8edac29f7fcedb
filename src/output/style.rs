//! Terminal colours: when to use them (fatih/color's rules, which logcli
//! follows) and the ANSI sequences logcli's palette prints.

/// Whether colours are on, by fatih/color's rule (logcli's): stdout is a
/// terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`.
pub fn colors_on(stdout_is_tty: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    stdout_is_tty && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

/// An SGR colour code (fatih/color's `Attribute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sgr(pub u8);

impl Sgr {
    /// Red (`color.RedString`): labels, and the values of logcli's notes.
    pub const RED: Sgr = Sgr(31);
    /// Green.
    pub const GREEN: Sgr = Sgr(32);
    /// Yellow.
    pub const YELLOW: Sgr = Sgr(33);
    /// Blue (`color.BlueString`): timestamps.
    pub const BLUE: Sgr = Sgr(34);
    /// Cyan.
    pub const CYAN: Sgr = Sgr(36);
    /// Bright black (grey), for axes and secondary text.
    pub const GREY: Sgr = Sgr(90);

    /// Appends `s` in this colour to `out` as fatih/color's `Sprint` does:
    /// `ESC[Nm` `s` `ESC[0m`.
    pub fn push(self, out: &mut String, s: &str) {
        use std::fmt::Write;
        let _ = write!(out, "\x1b[{}m{s}\x1b[0m", self.0);
    }

    /// `s` in this colour.
    pub fn paint(self, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 9);
        self.push(&mut out, s);
        out
    }
}

/// logcli's palette for `--colored-output` (`output.go`'s `colorList`: no
/// blue, which timestamps use).
const PALETTE: [Sgr; 10] = [
    Sgr(96), // FgHiCyan
    Sgr(36), // FgCyan
    Sgr(92), // FgHiGreen
    Sgr(32), // FgGreen
    Sgr(95), // FgHiMagenta
    Sgr(35), // FgMagenta
    Sgr(93), // FgHiYellow
    Sgr(33), // FgYellow
    Sgr(91), // FgHiRed
    Sgr(31), // FgRed
];

/// Go's `hash/fnv` `New32` (FNV-1, not FNV-1a) of `b`.
fn fnv1_32(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &c| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(c)
    })
}

/// The colour logcli's `--colored-output` gives a printed label set
/// (`getColor`: FNV-1 32 of the text, modulo the palette).
pub fn label_color(labels: &str) -> Sgr {
    PALETTE[(fnv1_32(labels.as_bytes()) % PALETTE.len() as u32) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatih_color_rules() {
        assert!(colors_on(true, None, Some("xterm")));
        assert!(colors_on(true, Some(""), None));
        assert!(!colors_on(true, Some("1"), None));
        assert!(!colors_on(true, None, Some("dumb")));
        assert!(!colors_on(false, None, None));
    }

    #[test]
    fn fnv1_as_go() {
        // Go: fnv.New32() of "" is the offset basis; of "a" 0x050c5d7e.
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(Sgr::BLUE.paint("x"), "\x1b[34mx\x1b[0m");
    }
}
