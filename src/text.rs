//! Which characters a client's text may hold (docs/api.md, "Text").
//!
//! Control characters (Unicode category Cc: U+0000–U+001F and U+007F–U+009F) are refused
//! in every text a client sends, except that free text (descriptions, reasons, the
//! strings of a generic entry's body) may hold line feeds, carriage returns and tabs.
//! Postgres refuses U+0000 in a text column, so without this a NUL would reach the
//! database and fail there; and a control character in a name, a code or an email is
//! never meant, while in an entry's body it would stay in the chain for good.

/// What a text is for, and so which control characters it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// A name, code, number, email or reference: no control character at all.
    Line,
    /// A description or reason: line feed, carriage return and tab allowed.
    Free,
}

/// The first character `s` may not hold as `text`, if any.
pub fn forbidden_char(s: &str, text: Text) -> Option<char> {
    s.chars()
        .find(|c| c.is_control() && !(text == Text::Free && matches!(c, '\n' | '\r' | '\t')))
}

/// The refusal for a forbidden character `c` in `field`, naming both.
pub fn refusal(field: &str, c: char, text: Text) -> String {
    let allowed = match text {
        Text::Line => "no control characters are allowed here",
        Text::Free => {
            "of the control characters only line feed, carriage return and tab are allowed here"
        }
    };
    format!(
        "{field} holds the control character U+{:04X}: {allowed}",
        u32::from(c)
    )
}

/// `Err` with the refusal when `s` holds a character `text` does not allow.
pub fn check(s: &str, field: &str, text: Text) -> Result<(), String> {
    match forbidden_char(s, text) {
        Some(c) => Err(refusal(field, c, text)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_every_control_character_free_text_keeps_line_breaks_and_tabs() {
        for c in [
            '\0', '\u{1}', '\n', '\r', '\t', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}',
        ] {
            let s = format!("a{c}b");
            assert_eq!(forbidden_char(&s, Text::Line), Some(c), "{c:?}");
            let free = forbidden_char(&s, Text::Free);
            assert_eq!(free.is_none(), matches!(c, '\n' | '\r' | '\t'), "{c:?}");
        }
        for ok in [
            "Ministry of Health",
            "Première tranche — €",
            "INV-2026/001",
            "\u{a0}",
        ] {
            assert_eq!(forbidden_char(ok, Text::Line), None, "{ok:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_field_and_the_character() {
        assert_eq!(
            check("a\0", "budget_line", Text::Line),
            Err("budget_line holds the control character U+0000: no control characters are allowed here".to_owned())
        );
    }
}
