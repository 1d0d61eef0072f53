//! The donor report as a spreadsheet (XLSX) and a printable document (PDF).
//!
//! Both are made from the API's CSV of the same report, row for row: the same figures, the
//! same formula-safe text, and the same leading `checkpoint` rows naming the signed
//! checkpoint the report was computed at (tree size, root hash, signing time and the signed
//! note itself). Nothing is recomputed here, so the three downloads cannot disagree.
//! Figures stay text in the spreadsheet: decimal strings exactly as the API wrote them,
//! never rounded through a binary float.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use rust_xlsxwriter::{Format, Workbook};

use crate::error::ApiError;

/// A CSV answer read back: its header and rows.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Rows a report may hold before the conversion refuses (a donor report has tens).
const ROWS_MAX: usize = 100_000;

/// Reads the API's CSV.
pub fn parse_csv(bytes: &[u8]) -> Result<Table, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(ApiError::internal)?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(ApiError::internal)?;
        rows.push(record.iter().map(str::to_owned).collect());
        if rows.len() > ROWS_MAX {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "a report of more than {ROWS_MAX} rows"
            )));
        }
    }
    Ok(Table { header, rows })
}

/// The table as one worksheet named after the report, header row in bold and frozen.
pub fn xlsx(title: &str, table: &Table) -> Result<Vec<u8>, ApiError> {
    let err = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(anyhow::anyhow!("xlsx: {e}"));
    let mut book = Workbook::new();
    book.set_properties(&rust_xlsxwriter::DocProperties::new().set_title(title));
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name("Report").map_err(err)?;
    for (col, name) in table.header.iter().enumerate() {
        let col = u16::try_from(col).map_err(ApiError::internal)?;
        sheet
            .write_string_with_format(0, col, name, &bold)
            .map_err(err)?;
    }
    for (i, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(i + 1).map_err(ApiError::internal)?;
        for (col, cell) in row.iter().enumerate() {
            let col = u16::try_from(col).map_err(ApiError::internal)?;
            sheet.write_string(r, col, cell).map_err(err)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(err)?;
    sheet.autofit();
    book.save_to_buffer().map_err(err)
}

/// Page geometry: A4 landscape, in points.
const PAGE_W: f32 = 842.0;
const PAGE_H: f32 = 595.0;
const MARGIN: f32 = 36.0;
const FONT_PT: f32 = 7.0;
const LEADING: f32 = 9.0;
/// Courier's advance is 0.6 em: the characters a line holds between the margins.
const LINE_CHARS: usize = 190;

/// The lines of the document: a title, the checkpoint with its note, then the figures in
/// fixed-width columns (Courier, so columns line up without measuring text).
fn pdf_lines(title: &str, table: &Table) -> Vec<String> {
    let mut lines = vec![title.to_owned(), String::new()];
    let (checkpoint, figures): (Vec<&Vec<String>>, Vec<&Vec<String>>) = table
        .rows
        .iter()
        .partition(|r| r.first().is_some_and(|s| s == "checkpoint"));
    for r in &checkpoint {
        let get = |i: usize| r.get(i).map_or("", String::as_str);
        // section, item_id (chain), item (fund|admin), category, measure, ..., cumulative
        let (chain, which, measure, value) = (get(1), get(2), get(4), get(7));
        if measure == "note" {
            lines.push(format!("Signed note of the {which} chain ({chain}):"));
            lines.extend(value.lines().map(|l| format!("    {l}")));
        } else {
            lines.push(format!(
                "Checkpoint of the {which} chain: {measure} {value}"
            ));
        }
    }
    lines.push(String::new());
    // Widths for section, item, category, measure, prior, period, cumulative, currency.
    let cols: [(usize, usize); 8] = [
        (0, 13),
        (2, 40),
        (3, 24),
        (4, 20),
        (5, 20),
        (6, 20),
        (7, 20),
        (8, 8),
    ];
    let fmt = |r: &[String]| {
        let mut line = String::new();
        for (i, w) in cols {
            let cell = r.get(i).map_or("", String::as_str);
            // Text columns are shortened to fit; figures (5..=7) never are.
            let cell: String = if i < 5 && cell.chars().count() > w {
                cell.chars()
                    .take(w.saturating_sub(1))
                    .chain(['~'])
                    .collect()
            } else {
                cell.to_owned()
            };
            if (5..=7).contains(&i) {
                line.push_str(&format!("{cell:>w$} "));
            } else {
                line.push_str(&format!("{cell:<w$} "));
            }
        }
        line.trim_end().to_owned()
    };
    lines.push(fmt(&table.header));
    for r in figures {
        lines.push(fmt(r));
    }
    // Wrap what is wider than a line (long note lines), never cut it.
    lines
        .into_iter()
        .flat_map(|l| {
            let chars: Vec<char> = l.chars().collect();
            if chars.is_empty() {
                vec![String::new()]
            } else {
                chars
                    .chunks(LINE_CHARS)
                    .map(|c| c.iter().collect())
                    .collect()
            }
        })
        .collect()
}

/// A character in WinAnsiEncoding (the standard fonts' encoding), `?` when it has none.
fn win_ansi(c: char) -> u8 {
    const SPECIAL: [(char, u8); 12] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('„', 0x84),
        ('…', 0x85),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('™', 0x99),
    ];
    let code = u32::from(c);
    if (0x20..0x7f).contains(&code) || (0xa0..=0xff).contains(&code) {
        u8::try_from(code).unwrap_or(b'?')
    } else {
        SPECIAL
            .iter()
            .find(|(s, _)| *s == c)
            .map_or(b'?', |(_, b)| *b)
    }
}

/// The table as a PDF of as many pages as it takes; text in the standard Courier font, so
/// nothing is embedded and any reader (and `pdftotext`) reads it back.
pub fn pdf(title: &str, table: &Table) -> Vec<u8> {
    let lines = pdf_lines(title, table);
    let per_page = {
        let usable = PAGE_H - 2.0 * MARGIN;
        let mut n = 0usize;
        let mut h = 0.0f32;
        while h + LEADING <= usable {
            h += LEADING;
            n += 1;
        }
        n.max(1)
    };
    let pages: Vec<&[String]> = lines.chunks(per_page).collect();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let info = Ref::new(4);
    let first_page = 5;
    let page_ref = |i: usize, k: i32| {
        let i = i32::try_from(i).unwrap_or(i32::MAX / 4);
        Ref::new(first_page + 2 * i + k)
    };
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(|i| page_ref(i, 0)))
        .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
    pdf.type1_font(font)
        .base_font(Name(b"Courier"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(title))
        .creator(TextStr("fundtrail"));
    let font_name = Name(b"F1");
    for (i, chunk) in pages.iter().enumerate() {
        let mut page = pdf.page(page_ref(i, 0));
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(page_ref(i, 1));
        page.resources().fonts().pair(font_name, font);
        page.finish();
        let mut content = Content::new();
        content.begin_text();
        content.set_font(font_name, FONT_PT);
        content.set_leading(LEADING);
        content.next_line(MARGIN, PAGE_H - MARGIN - FONT_PT);
        for line in chunk.iter() {
            let bytes: Vec<u8> = line.chars().map(win_ansi).collect();
            content.show(Str(&bytes));
            content.next_line_using_leading();
        }
        content.end_text();
        pdf.stream(page_ref(i, 1), &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn win_ansi_keeps_latin1_and_dashes_and_marks_the_rest() {
        assert_eq!(win_ansi('a'), b'a');
        assert_eq!(win_ansi('é'), 0xe9);
        assert_eq!(win_ansi('—'), 0x97);
        assert_eq!(win_ansi('€'), 0x80);
        assert_eq!(win_ansi('中'), b'?');
        assert_eq!(win_ansi('\n'), b'?');
    }

    #[test]
    fn long_lines_wrap_and_nothing_is_cut() {
        let note = format!("origin\n{}", "x".repeat(LINE_CHARS + 10));
        let table = Table {
            header: vec!["section".into()],
            rows: vec![vec![
                "checkpoint".into(),
                "chain".into(),
                "fund".into(),
                String::new(),
                "note".into(),
                String::new(),
                String::new(),
                note,
                String::new(),
            ]],
        };
        let lines = pdf_lines("T", &table);
        let xs: usize = lines.iter().map(|l| l.matches('x').count()).sum();
        assert_eq!(xs, LINE_CHARS + 10);
        assert!(lines.iter().all(|l| l.chars().count() <= LINE_CHARS));
    }
}
