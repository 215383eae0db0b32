//! Terminal output as the page shows it: SGR colour sequences become styles, other escape
//! sequences are dropped, a carriage return that does not end a line starts it over (progress
//! bars show their last state). What it makes is counted against the budget as it is made:
//! each run costs its text and the markup that will wrap it, so a log that changes colour at
//! every character stops at the budget instead of growing twentyfold.

use crate::core::untrusted::{Budget, Exceeded};

/// What a run costs in the page besides its text (`<span class="b f1"></span>`).
const RUN_OVERHEAD: usize = 32;

/// A stretch of text in one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyledRun {
    pub text: String,
    pub style: Style,
}

/// The SGR attributes CI logs use: the 16 terminal colours and a few faces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // SGR faces are independent switches
pub struct Style {
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    /// 0–15: black, red, green, yellow, blue, magenta, cyan, white, then their bright forms.
    pub fg: Option<u8>,
    pub bg: Option<u8>,
}

impl Style {
    /// CSS classes for the page (`b`, `d`, `i`, `u`, `f0`–`f15`, `k0`–`k15`): the app's CSP
    /// allows no inline style.
    pub fn classes(self) -> String {
        let mut classes = Vec::new();
        for (on, class) in [(self.bold, "b"), (self.dim, "d"), (self.italic, "i"), (self.underline, "u")] {
            if on {
                classes.push(class.to_owned());
            }
        }
        classes.extend(self.fg.map(|c| format!("f{c}")));
        classes.extend(self.bg.map(|c| format!("k{c}")));
        classes.join(" ")
    }

    /// Applies one `ESC [ ... m` sequence.
    fn apply(&mut self, params: &[u16]) {
        let mut params = params.iter().copied();
        if params.len() == 0 {
            *self = Style::default();
        }
        while let Some(p) = params.next() {
            match p {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some((p - 30) as u8),
                39 => self.fg = None,
                40..=47 => self.bg = Some((p - 40) as u8),
                49 => self.bg = None,
                90..=97 => self.fg = Some((p - 90 + 8) as u8),
                100..=107 => self.bg = Some((p - 100 + 8) as u8),
                38 | 48 => {
                    // 256 colours (`38;5;n`) keep the 16 basic ones; true colour is dropped.
                    let colour = match params.next() {
                        Some(5) => params.next().filter(|n| *n < 16).map(|n| n as u8),
                        Some(2) => {
                            params.by_ref().take(3).for_each(drop);
                            None
                        }
                        _ => None,
                    };
                    if p == 38 { self.fg = colour } else { self.bg = colour }
                }
                _ => {}
            }
        }
    }
}

/// Styled runs made from the parser's events, each character counted against the budget.
struct Styler<'b> {
    runs: Vec<StyledRun>,
    style: Style,
    /// Where the current line starts: the run, and the byte in it.
    line_start: (usize, usize),
    /// A `\r` was seen: the line starts over unless a `\n` follows.
    carriage_return: bool,
    budget: &'b mut Budget,
    exceeded: Option<Exceeded>,
}

impl Styler<'_> {
    fn push(&mut self, c: char) {
        if self.exceeded.is_some() {
            return;
        }
        if self.carriage_return {
            self.carriage_return = false;
            let (run, byte) = self.line_start;
            self.runs.truncate(run + 1);
            if let Some(last) = self.runs.last_mut() {
                last.text.truncate(byte);
            }
        }
        let new_run = !matches!(self.runs.last(), Some(last) if last.style == self.style || last.text.is_empty());
        let cost = c.len_utf8() + if new_run { RUN_OVERHEAD } else { 0 };
        if let Err(e) = self.budget.emit(cost) {
            self.exceeded = Some(e);
            return;
        }
        match self.runs.last_mut() {
            Some(last) if last.style == self.style => last.text.push(c),
            Some(last) if last.text.is_empty() => {
                last.style = self.style;
                last.text.push(c);
            }
            _ => self.runs.push(StyledRun { text: c.to_string(), style: self.style }),
        }
        if c == '\n' {
            let run = self.runs.len() - 1;
            self.line_start = (run, self.runs[run].text.len());
        }
    }
}

impl anstyle_parse::Perform for Styler<'_> {
    fn print(&mut self, c: char) {
        self.push(c);
    }
    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' => {
                self.carriage_return = false;
                self.push('\n');
            }
            b'\t' => self.push('\t'),
            b'\r' => self.carriage_return = true,
            _ => {}
        }
    }
    fn csi_dispatch(&mut self, params: &anstyle_parse::Params, intermediates: &[u8], ignore: bool, action: u8) {
        if action == b'm' && intermediates.is_empty() && !ignore {
            let flat: Vec<u16> = params.iter().flat_map(|p| p.iter().copied()).collect();
            self.style.apply(&flat);
        }
    }
}

/// Terminal output as styled runs, up to where the budget stopped it: then also the byte it
/// stopped at and why.
pub fn ansi_runs(text: &[u8], budget: &mut Budget) -> (Vec<StyledRun>, Option<(usize, Exceeded)>) {
    let mut runs = Styler {
        runs: Vec::new(),
        style: Style::default(),
        line_start: (0, 0),
        carriage_return: false,
        budget,
        exceeded: None,
    };
    let mut parser = anstyle_parse::Parser::<anstyle_parse::DefaultCharAccumulator>::new();
    let mut stopped = None;
    for (i, &byte) in text.iter().enumerate() {
        parser.advance(&mut runs, byte);
        if let Some(e) = runs.exceeded.take() {
            stopped = Some((i, e));
            break;
        }
        if let Err(e) = runs.budget.tick() {
            stopped = Some((i, e));
            break;
        }
    }
    runs.runs.retain(|r| !r.text.is_empty());
    (runs.runs, stopped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::untrusted::Limits;

    fn roomy() -> Budget {
        Budget::new(Limits::ROOMY)
    }

    fn runs(text: &[u8]) -> Vec<StyledRun> {
        let (runs, stopped) = ansi_runs(text, &mut roomy());
        assert_eq!(stopped, None);
        runs
    }

    fn plain(runs: &[StyledRun]) -> String {
        runs.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn ansi_colours_become_styles() {
        let runs = runs(b"ok \x1b[1;31mFAILED\x1b[0m done\n\x1b[92mgreen\x1b[39m");
        assert_eq!(plain(&runs), "ok FAILED done\ngreen");
        assert_eq!(
            runs[1],
            StyledRun { text: "FAILED".into(), style: Style { bold: true, fg: Some(1), ..Style::default() } }
        );
        assert_eq!(runs[1].style.classes(), "b f1");
        assert_eq!(runs[3].style.fg, Some(10));
        // 256 colours keep the basic 16; true colour and cursor moves are dropped.
        let runs = super::ansi_runs(b"\x1b[38;5;4mblue\x1b[38;2;1;2;3mrgb\x1b[2K\x1b[48;5;200mx", &mut roomy()).0;
        assert_eq!(plain(&runs), "bluergbx");
        assert_eq!(runs[0].style.fg, Some(4));
        assert_eq!(runs[1].style, Style::default());
    }

    #[test]
    fn carriage_returns_keep_the_last_state_of_a_line() {
        let kept = runs(b"start\n 10%\r 50%\r\x1b[32m100%\x1b[0m\r\nnext\r\n");
        assert_eq!(plain(&kept), "start\n100%\nnext\n");
        assert!(kept.iter().any(|r| r.text == "100%" && r.style.fg == Some(2)));
        // Other control characters go; tabs stay.
        assert_eq!(plain(&runs(b"a\tb\x07c\x08")), "a\tbc");
    }

    #[test]
    fn a_colour_at_every_character_stops_at_the_output_budget() {
        let log: Vec<u8> = (0..100_000).flat_map(|i| format!("\x1b[3{}mx", i % 8).into_bytes()).collect();
        let limit = 4 * log.len() as u64 / 10;
        let mut budget = Budget::new(Limits { output: limit, ..Limits::ROOMY });
        let (runs, stopped) = ansi_runs(&log, &mut budget);
        let (at, why) = stopped.unwrap();
        assert_eq!(why, Exceeded::Output(limit));
        assert!(at < log.len() && runs.len() * (RUN_OVERHEAD + 1) <= limit as usize, "{at} {}", runs.len());
    }
}
