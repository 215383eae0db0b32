//! The artifact path rules under hostile input: generated paths (proptest) and a committed
//! corpus of known cases, including every input that ever broke a rule.

use std::str::FromStr;

use proptest::prelude::*;
use vitrine_wire::domain::{MAX_PATH_LEN, PrettyPath, SourcePath};

/// What every accepted path must be, whatever the input: relative, with real segments only,
/// nothing a terminal or a browser would show as something else.
fn assert_well_formed(input: &str, path: &PrettyPath) {
    let s = path.as_str();
    assert_eq!(s, input, "a path is kept as given, never rewritten");
    assert!(!s.is_empty() && s.len() <= MAX_PATH_LEN);
    assert!(!s.starts_with('/'), "{s:?} is relative");
    assert!(s.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".."), "{s:?}");
    assert!(!s.chars().any(|c| c.is_control() || c == '\\'), "{s:?}");
    assert!(
        !s.chars().any(|c| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    );
    let json = serde_json::to_string(path).unwrap();
    assert_eq!(&serde_json::from_str::<PrettyPath>(&json).unwrap(), path, "round-trips through JSON");
}

/// Characters that break path rules in practice, mixed with ordinary ones.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec!['a', 'Z', '0', '-', '_', ' ', 'é', '日', '🚀', '$', '%', '?', '#']),
        4 => prop::sample::select(vec!['/', '.', '\\', ':']),
        2 => prop::sample::select(vec![
            '\0', '\t', '\n', '\r', '\u{7f}', '\u{85}', '\u{ad}', '\u{34f}', '\u{61c}', '\u{115f}', '\u{200b}',
            '\u{200d}', '\u{200e}', '\u{2028}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{3164}', '\u{feff}',
            '\u{ffa0}', '\u{fff9}', '\u{e0041}',
        ]),
        1 => any::<char>(),
    ]
}

fn hostile_path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(hostile_char(), 0..40).prop_map(|cs| cs.into_iter().collect()),
        // Segments joined by slashes: reaches `..` and empty segments more often.
        prop::collection::vec(
            prop::sample::select(vec!["a", "..", ".", "", "b c", "$CIRCLE_ARTIFACTS", "\u{202e}x"]),
            1..6
        )
        .prop_map(|segs| segs.join("/")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn any_input_is_refused_or_well_formed(input in hostile_path()) {
        if let Ok(path) = PrettyPath::from_str(&input) {
            assert_well_formed(&input, &path);
        }
    }

    #[test]
    fn refusals_say_what_is_wrong_in_printable_words(input in hostile_path()) {
        if let Err(e) = PrettyPath::from_str(&input) {
            let message = e.to_string();
            prop_assert!(message.starts_with("Artifact path"), "{message}");
            prop_assert!(!message.chars().any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}')), "{message:?}");
        }
    }

    #[test]
    fn source_paths_are_refused_or_read_as_they_are(input in hostile_path()) {
        match SourcePath::try_from(input.clone()) {
            Ok(path) => {
                prop_assert_eq!(path.as_str(), input.as_str());
                prop_assert!(!input.is_empty() && input.len() <= MAX_PATH_LEN);
                let shows_as_is = !input.chars().any(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'));
                prop_assert!(shows_as_is, "{:?}", input);
            }
            Err(e) => prop_assert!(e.to_string().starts_with("Artifact source path"), "{}", e),
        }
    }

    #[test]
    fn long_paths_stop_at_the_limit(extra in 0usize..64) {
        let input = "a/".repeat(usize::midpoint(MAX_PATH_LEN, extra)) + "z";
        let accepted = PrettyPath::from_str(&input).is_ok();
        prop_assert_eq!(accepted, input.len() <= MAX_PATH_LEN);
    }
}

fn unescape(escaped: &str) -> String {
    let mut out = String::new();
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("unknown escape \\{other:?} in the corpus"),
        }
    }
    out
}

/// A corpus's cases: whether each is accepted (`ok`) and its input.
fn corpus(text: &str) -> Vec<(bool, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let (expect, escaped) = line.split_at(2);
            assert!(matches!(expect, "ok" | "no"), "a corpus line starts with ok or no: {line}");
            (expect == "ok", unescape(escaped.strip_prefix(' ').unwrap_or(escaped)))
        })
        .collect()
}

#[test]
fn the_committed_corpora_hold() {
    let pretty = corpus(include_str!("corpus/pretty_paths.txt"));
    assert!(pretty.len() >= 40, "the corpus is read ({} lines)", pretty.len());
    for (ok, input) in pretty {
        match (ok, PrettyPath::from_str(&input)) {
            (true, Ok(path)) => assert_well_formed(&input, &path),
            (false, Err(e)) => assert!(e.to_string().starts_with("Artifact path"), "{e}"),
            (ok, got) => panic!("{input:?}: expected ok={ok}, got {got:?}"),
        }
    }
    let source = corpus(include_str!("corpus/source_paths.txt"));
    assert!(source.len() >= 12, "the corpus is read ({} lines)", source.len());
    for (ok, input) in source {
        let got = SourcePath::try_from(input.clone());
        assert_eq!(got.is_ok(), ok, "{input:?}: {got:?}");
    }
}
