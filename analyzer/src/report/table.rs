//! The text reports' markdown tables, written as comfy-table writes them with its `ASCII_MARKDOWN` preset.
//!
//! comfy-table measures, splits and pads every cell for Unicode widths and multi-line content, about a
//! microsecond per cell: the line-timings table of a large log (thousands of rows) took as long as the rest of
//! the summary. Tables whose cells are all printable ASCII are written here directly (widths are lengths); any
//! other goes through comfy-table itself, so the bytes are the same either way (property-tested).

use std::io::{self, Write};

use comfy_table::{presets::ASCII_MARKDOWN, CellAlignment, Table};

/// Writes the table of `header` and `rows` (each as long as `header`) and a newline, the columns for which
/// `right(column)` holds aligned right, the others left. Cells are anything that reads as text (`String`s, or
/// `&str`s into one buffer, which spares a large table an allocation per cell).
pub(crate) fn write_markdown<S: AsRef<str>, R: AsRef<[S]>>(
    w: &mut dyn Write,
    header: &[&str],
    rows: &[R],
    right: impl Fn(usize) -> bool,
) -> io::Result<()> {
    let plain = |s: &str| s.bytes().all(|b| (b' '..=b'~').contains(&b));
    let simple = rows.iter().all(|r| r.as_ref().len() == header.len() && r.as_ref().iter().all(|c| plain(c.as_ref())))
        && header.iter().all(|c| plain(c));
    if !simple {
        return write_comfy(w, header, rows, right);
    }
    // comfy-table never draws a column narrower than one character.
    let mut widths: Vec<usize> = header.iter().map(|c| c.len().max(1)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row.as_ref()) {
            *width = (*width).max(cell.as_ref().len());
        }
    }
    let mut out = Vec::with_capacity((rows.len() + 2) * (widths.iter().sum::<usize>() + 3 * widths.len() + 2));
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut Vec<u8>| {
        for (c, (cell, &width)) in cells.zip(&widths).enumerate() {
            out.extend_from_slice(b"| ");
            let pad = width - cell.len();
            if right(c) {
                out.resize(out.len() + pad, b' ');
                out.extend_from_slice(cell.as_bytes());
            } else {
                out.extend_from_slice(cell.as_bytes());
                out.resize(out.len() + pad, b' ');
            }
            out.push(b' ');
        }
        out.extend_from_slice(b"|\n");
    };
    line(&mut header.iter().copied(), &mut out);
    for &width in &widths {
        out.push(b'|');
        out.resize(out.len() + width + 2, b'-');
    }
    out.extend_from_slice(b"|\n");
    for row in rows {
        line(&mut row.as_ref().iter().map(AsRef::as_ref), &mut out);
    }
    w.write_all(&out)
}

/// [`write_markdown`] through comfy-table.
fn write_comfy<S: AsRef<str>, R: AsRef<[S]>>(
    w: &mut dyn Write,
    header: &[&str],
    rows: &[R],
    right: impl Fn(usize) -> bool,
) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(ASCII_MARKDOWN);
    t.set_header(header.to_vec());
    for row in rows {
        t.add_row(row.as_ref().iter().map(|c| c.as_ref().to_owned()).collect::<Vec<_>>());
    }
    for c in 0..header.len() {
        if let Some(col) = t.column_mut(c).filter(|_| right(c)) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(w, "{t}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(header: &[&str], rows: &[Vec<String>], right: &[bool], comfy: bool) -> String {
        let mut out = Vec::new();
        let right = |c: usize| right.get(c).copied().unwrap_or(false);
        if comfy {
            write_comfy(&mut out, header, rows, right).unwrap();
        } else {
            write_markdown(&mut out, header, rows, right).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn looks_like_the_reports() {
        let rows = vec![vec!["a.f".to_string(), "12.5".to_string()], vec!["b".to_string(), "7".to_string()]];
        assert_eq!(
            render(&["function", "ms"], &rows, &[false, true], false),
            "| function |   ms |\n|----------|------|\n| a.f      | 12.5 |\n| b        |    7 |\n"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Plain cells (written here) and any others (through comfy-table): the same bytes as comfy-table's.
        #[test]
        fn same_bytes_as_comfy_table(
            header in proptest::collection::vec("[ -~]{0,12}", 1..5),
            cells in proptest::collection::vec(prop_oneof![
                8 => "[ -~]{0,15}",
                1 => "[a-zé ]{0,6}",
                1 => "[a\n\t]{0,4}",
            ], 0..40),
            right in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> = cells.chunks_exact(header.len()).map(<[String]>::to_vec).collect();
            prop_assert_eq!(render(&header, &rows, &right, false), render(&header, &rows, &right, true));
        }
    }
}
