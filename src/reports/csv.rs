//! CSV as spreadsheet programs open it cleanly: RFC 4180 (comma, CRLF, fields quoted when
//! they hold a comma, quote or line break), UTF-8 without a byte-order mark, and safe
//! against formula injection (OWASP "CSV Injection"): a cell that begins with `=`, `+`,
//! `-`, `@`, a tab or a carriage return is prefixed with a single quote, so a spreadsheet
//! shows it as text instead of evaluating it. Plain decimal numbers (`-1250.00`) are
//! left as they are: they cannot be formulas, and escaping them would turn every negative
//! amount into text.

use std::io::Write;

/// A CSV writer over any `Write` (a streamed response body, a buffer).
pub struct CsvOut<W: Write> {
    inner: ::csv::Writer<W>,
}

impl<W: Write> CsvOut<W> {
    pub fn new(out: W) -> Self {
        Self {
            inner: ::csv::WriterBuilder::new()
                .terminator(::csv::Terminator::CRLF)
                .quote_style(::csv::QuoteStyle::Necessary)
                .from_writer(out),
        }
    }

    /// Writes one record, each cell made formula-safe.
    pub fn row<I, S>(&mut self, cells: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.inner
            .write_record(
                cells
                    .into_iter()
                    .map(|c| safe_cell(c.as_ref()).into_owned()),
            )
            .map_err(std::io::Error::other)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The cell as written: prefixed with `'` when a spreadsheet would read it as a formula.
pub fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if risky && !is_plain_decimal(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `-?digits(.digits)?`: nothing a spreadsheet evaluates.
fn is_plain_decimal(cell: &str) -> bool {
    let body = cell.strip_prefix('-').unwrap_or(cell);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        let cases = [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-1+1", "'-1+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("-1250.00", "-1250.00"),
            ("-7", "-7"),
            ("-.5", "'-.5"),
            ("-", "'-"),
            ("1250.00", "1250.00"),
            ("Ministry of Interior", "Ministry of Interior"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(safe_cell(input), want, "{input:?}");
        }
    }

    #[test]
    fn rfc4180_quoting_and_crlf() {
        let mut buf = Vec::new();
        {
            let mut out = CsvOut::new(&mut buf);
            out.row(["a,b", "say \"hi\"", "line\nbreak", "plain"])
                .unwrap();
            out.row(["=1+2", "é", "", "-3.50"]).unwrap();
            out.flush().unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",plain\r\n'=1+2,é,,-3.50\r\n"
        );
    }
}
