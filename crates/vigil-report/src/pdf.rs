//! A document as a PDF: A4 pages, the standard Helvetica fonts (every PDF reader has them, nothing
//! is embedded), text wrapped to measured widths, tables with repeated headers across pages, bar
//! charts drawn as rectangles, content streams compressed. Written from the PDF 1.4 reference: a
//! catalog, a page tree, one content stream per page and the cross-reference table.

use crate::doc::{Block, Doc, TO_SUPPLY};
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::Add;

const W: f64 = 595.28;
const H: f64 = 841.89;
const MARGIN: f64 = 48.0;
const BOTTOM: f64 = 56.0;

/// Helvetica's advance widths (1/1000 em) for ASCII 32..=126, from Adobe's AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278,
    469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260,
    334, 584,
];
/// Helvetica-Bold's, likewise.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584,
    611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333,
    584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280,
    389, 584,
];

#[derive(Copy, Clone, PartialEq)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn name(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

/// The WinAnsiEncoding byte of a character; characters it lacks become a close ASCII spelling.
fn win_ansi(c: char, out: &mut Vec<u8>) {
    let b = match c {
        ' '..='~' => c as u8,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '→' => return out.extend_from_slice(b"->"),
        '←' => return out.extend_from_slice(b"<-"),
        '≥' => return out.extend_from_slice(b">="),
        '≤' => return out.extend_from_slice(b"<="),
        '≈' => b'~',
        '\t' | '\n' | '\r' => b' ',
        _ => b'?',
    };
    out.push(b);
}

fn encode(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    for c in s.chars() {
        win_ansi(c, &mut v);
    }
    v
}

fn width(bytes: &[u8], font: Font, size: f64) -> f64 {
    let table = match font {
        Font::Regular => &HELVETICA,
        Font::Bold => &HELVETICA_BOLD,
    };
    let units: u32 = bytes
        .iter()
        .map(|&b| match b {
            32..=126 => table[(b - 32) as usize] as u32,
            // …, ‰, —, ™ and Œ/œ are wider than the rest.
            0x85 | 0x89 | 0x97 | 0x99 => 1000,
            0x8c | 0x9c => 1000,
            _ => 556,
        })
        .sum();
    units as f64 * size / 1000.0
}

/// Splits text into lines no wider than `max` points, at spaces where it can, mid-word where a
/// word alone is too wide.
fn wrap(text: &str, font: Font, size: f64, max: f64) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line: Vec<u8> = Vec::new();
        for word in encode(para).split(|&b| b == b' ') {
            let mut word = word.to_vec();
            let candidate = if line.is_empty() { word.clone() } else { [line.as_slice(), b" ", word.as_slice()].concat() };
            if width(&candidate, font, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line is cut where its running width passes the line's: one
            // pass, however long the word (a pasted hash or blob).
            if width(&word, font, size) > max {
                let mut start = 0;
                let mut run = 0.0;
                for (i, b) in word.iter().enumerate() {
                    let w = width(&[*b], font, size);
                    if run + w > max && i > start {
                        lines.push(word[start..i].to_vec());
                        start = i;
                        run = 0.0;
                    }
                    run += w;
                }
                word.drain(..start);
            }
            line = word;
        }
        lines.push(line);
    }
    lines
}

fn pdf_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('(');
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            32..=126 => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03o}");
            }
        }
    }
    s.push(')');
    s
}

struct Writer {
    pages: Vec<String>,
    page: String,
    y: f64,
    title: Vec<u8>,
}

impl Writer {
    fn new(title: &str) -> Writer {
        Writer { pages: Vec::new(), page: String::new(), y: H - MARGIN, title: encode(title) }
    }

    fn text(&mut self, x: f64, y: f64, font: Font, size: f64, bytes: &[u8]) {
        let _ = writeln!(self.page, "BT /{} {size} Tf {x:.2} {y:.2} Td {} Tj ET", font.name(), pdf_string(bytes));
    }

    fn color(&mut self, rgb: (f64, f64, f64)) {
        let _ = writeln!(self.page, "{:.3} {:.3} {:.3} rg", rgb.0, rgb.1, rgb.2);
    }

    fn finish_page(&mut self) {
        let n = self.pages.len() + 1;
        let footer = [self.title.as_slice(), format!(" - page {n}").as_bytes()].concat();
        self.color((0.35, 0.38, 0.42));
        let x = MARGIN;
        self.text(x, 28.0, Font::Regular, 8.0, &footer);
        self.color((0.0, 0.0, 0.0));
        self.pages.push(std::mem::take(&mut self.page));
        self.y = H - MARGIN;
    }

    /// Room for `h` more points on this page, else a new page.
    fn need(&mut self, h: f64) -> bool {
        if self.y - h < BOTTOM {
            self.finish_page();
            return true;
        }
        false
    }

    fn lines(&mut self, text: &str, font: Font, size: f64, x: f64, max: f64, after: f64) {
        let lead = size * 1.3;
        for l in wrap(text, font, size, max) {
            self.need(lead);
            self.y -= lead;
            self.text(x, self.y + size * 0.25, font, size, &l);
        }
        self.y -= after;
    }

    fn block(&mut self, b: &Block) {
        let full = W - 2.0 * MARGIN;
        match b {
            Block::Heading(s) => {
                self.need(48.0);
                self.y -= 10.0;
                self.lines(s, Font::Bold, 13.0, MARGIN, full, 2.0);
                let _ = writeln!(self.page, "0.8 w {MARGIN} {:.2} m {:.2} {:.2} l S", self.y, W - MARGIN, self.y);
                self.y -= 6.0;
            }
            Block::Subheading(s) => {
                self.need(36.0);
                self.y -= 4.0;
                self.lines(s, Font::Bold, 10.5, MARGIN, full, 2.0);
            }
            Block::Para(s) => {
                for p in s.split("\n\n") {
                    self.lines(p, Font::Regular, 9.5, MARGIN, full, 5.0);
                }
            }
            Block::Fields(f) => {
                let lw = full * 0.32;
                for (k, v) in f {
                    let size = 9.0;
                    let lead = size * 1.3;
                    let kl = wrap(k, Font::Bold, size, lw - 6.0);
                    let missing = v.is_empty();
                    let vl = wrap(if missing { TO_SUPPLY } else { v }, Font::Regular, size, full - lw);
                    let n = kl.len().max(vl.len());
                    // Kept together when it fits on a page; a longer value runs on to the next.
                    self.need((lead * n as f64 + 3.0).min(H - MARGIN - BOTTOM));
                    for i in 0..n {
                        self.need(lead);
                        self.y -= lead;
                        if let Some(l) = kl.get(i) {
                            self.text(MARGIN, self.y + size * 0.25, Font::Bold, size, l);
                        }
                        if let Some(l) = vl.get(i) {
                            if missing {
                                self.color((0.6, 0.4, 0.0));
                            }
                            self.text(MARGIN + lw, self.y + size * 0.25, Font::Regular, size, l);
                            if missing {
                                self.color((0.0, 0.0, 0.0));
                            }
                        }
                    }
                    self.y -= 3.0;
                }
                self.y -= 4.0;
            }
            Block::Table { head, rows, more } => self.table(head, rows, *more),
            Block::Bars { title, bars } => self.bars(title, bars),
            Block::Missing(m) => {
                if m.is_empty() {
                    self.lines("Nothing is missing: the report is complete.", Font::Regular, 9.5, MARGIN, full, 5.0);
                    return;
                }
                self.color((0.6, 0.4, 0.0));
                self.lines("Still to be supplied before filing:", Font::Bold, 9.5, MARGIN, full, 2.0);
                for x in m {
                    self.lines(&format!("- {x}"), Font::Regular, 9.0, MARGIN + 8.0, full - 8.0, 0.0);
                }
                self.color((0.0, 0.0, 0.0));
                self.y -= 5.0;
            }
        }
    }

    fn table(&mut self, head: &[String], rows: &[Vec<String>], more: usize) {
        let full = W - 2.0 * MARGIN;
        let size = 7.0;
        let lead = size * 1.25;
        let pad = 2.5;
        if rows.is_empty() {
            self.lines("None.", Font::Regular, 9.0, MARGIN, full, 4.0);
            return;
        }
        // Column widths: each column's widest cell (capped), scaled to the page.
        let n = head.len();
        let mut want: Vec<f64> = head.iter().map(|h| width(&encode(h), Font::Bold, size) + 2.0 * pad).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate().take(n) {
                want[i] = want[i].max((width(&encode(c), Font::Regular, size) + 2.0 * pad).min(full * 0.45));
            }
        }
        // Too wide: every column keeps its header's longest word, and the rest is shared out in
        // proportion to what each wants beyond that.
        let total: f64 = want.iter().sum();
        let floor: Vec<f64> =
            head.iter().zip(&want).map(|(h, w)| h.split(' ').map(|x| width(&encode(x), Font::Bold, size)).fold(0.0, f64::max).add(2.0 * pad).min(*w)).collect();
        let floors: f64 = floor.iter().sum();
        let widths: Vec<f64> = if total <= full {
            want.clone()
        } else if floors >= full {
            want.iter().map(|w| w * full / total).collect()
        } else {
            want.iter().zip(&floor).map(|(w, f)| f + (w - f) * (full - floors) / (total - floors)).collect()
        };
        let header = |me: &mut Writer| me.row(head, &widths, Font::Bold, size, lead, pad, true);
        self.need(lead * 3.0);
        header(self);
        for r in rows {
            let mut cells: Vec<Vec<Vec<u8>>> = r.iter().take(n).enumerate().map(|(i, c)| wrap(c, Font::Regular, size, widths[i] - 2.0 * pad)).collect();
            // A row taller than what is left of the page: on a new page when it fits there; one
            // taller than a page runs on across pages, the header repeated on each.
            loop {
                let lines = cells.iter().map(|c| c.len()).max().unwrap_or(1).max(1);
                let fit = ((self.y - BOTTOM - 2.0) / lead).floor().max(0.0) as usize;
                let page = ((H - MARGIN - BOTTOM - 2.0) / lead).floor() as usize - 2;
                if lines <= fit {
                    self.draw_row(&cells, &widths, Font::Regular, size, lead, pad, false);
                    break;
                }
                if lines <= page || fit < 3 {
                    self.finish_page();
                    header(self);
                    continue;
                }
                let part: Vec<Vec<Vec<u8>>> = cells.iter_mut().map(|c| c.drain(..fit.min(c.len())).collect()).collect();
                self.draw_row(&part, &widths, Font::Regular, size, lead, pad, false);
                self.finish_page();
                header(self);
            }
        }
        if more > 0 {
            self.y -= 2.0;
            self.lines(&format!("{more} more rows in the JSON export."), Font::Regular, 8.0, MARGIN, full, 0.0);
        }
        self.y -= 6.0;
    }

    #[allow(clippy::too_many_arguments)]
    fn row(&mut self, cells: &[String], widths: &[f64], font: Font, size: f64, lead: f64, pad: f64, shade: bool) {
        let cells: Vec<Vec<Vec<u8>>> = cells.iter().enumerate().map(|(i, c)| wrap(c, font, size, widths[i] - 2.0 * pad)).collect();
        self.draw_row(&cells, widths, font, size, lead, pad, shade);
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_row(&mut self, cells: &[Vec<Vec<u8>>], widths: &[f64], font: Font, size: f64, lead: f64, pad: f64, shade: bool) {
        let h = cells.iter().map(|c| c.len()).max().unwrap_or(1) as f64 * lead + 2.0;
        let top = self.y;
        let full: f64 = widths.iter().sum();
        if shade {
            let _ = writeln!(self.page, "0.94 0.95 0.96 rg {MARGIN} {:.2} {full:.2} {h:.2} re f 0 0 0 rg", top - h);
        }
        let _ = writeln!(self.page, "0.3 w 0.75 0.78 0.8 RG {MARGIN} {:.2} {full:.2} {h:.2} re S", top - h);
        let mut x = MARGIN;
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(self.page, "{x:.2} {:.2} m {x:.2} {top:.2} l S", top - h);
            }
            for (j, l) in c.iter().enumerate() {
                self.text(x + pad, top - lead * (j + 1) as f64 + size * 0.2, font, size, l);
            }
            x += widths[i];
        }
        let _ = writeln!(self.page, "0 0 0 RG");
        self.y = top - h;
    }

    fn bars(&mut self, title: &str, bars: &[(String, f64)]) {
        let full = W - 2.0 * MARGIN;
        let row = 13.0;
        self.need(20.0 + row * bars.len().min(8) as f64);
        self.lines(title, Font::Bold, 10.0, MARGIN, full, 3.0);
        let label_w = full * 0.35;
        let bar_w = full * 0.5;
        let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
        for (label, v) in bars {
            self.need(row);
            self.y -= row;
            let l = wrap(label, Font::Regular, 8.0, label_w - 6.0).into_iter().next().unwrap_or_default();
            let lw = width(&l, Font::Regular, 8.0);
            self.text(MARGIN + label_w - 6.0 - lw, self.y + 3.0, Font::Regular, 8.0, &l);
            let w = (v / max * bar_w).max(if *v > 0.0 { 0.8 } else { 0.0 });
            let _ = writeln!(self.page, "0.231 0.431 0.659 rg {:.2} {:.2} {w:.2} {:.2} re f 0 0 0 rg", MARGIN + label_w, self.y + 1.0, row - 3.0);
            self.text(MARGIN + label_w + w + 4.0, self.y + 3.0, Font::Regular, 8.0, crate::num(*v).as_bytes());
        }
        self.y -= 8.0;
    }
}

/// Renders a document as PDF bytes. `info_date` (`YYYYMMDDHHmmSS`) becomes the file's creation
/// date, so the same report gives the same bytes.
pub fn render(doc: &Doc, info_date: &str) -> Vec<u8> {
    let mut w = Writer::new(&doc.title);
    let full = W - 2.0 * MARGIN;
    w.lines(&doc.title, Font::Bold, 17.0, MARGIN, full, 3.0);
    for s in &doc.subtitle {
        w.color((0.35, 0.38, 0.42));
        w.lines(s, Font::Regular, 9.0, MARGIN, full, 0.0);
        w.color((0.0, 0.0, 0.0));
    }
    w.y -= 6.0;
    for b in &doc.blocks {
        w.block(b);
    }
    w.finish_page();
    assemble(&w.pages, &doc.title, info_date)
}

fn assemble(pages: &[String], title: &str, info_date: &str) -> Vec<u8> {
    // Objects: 1 catalog, 2 page tree, 3 and 4 fonts, 5 info, then a page and its content each.
    let n = pages.len();
    let mut objs: Vec<Vec<u8>> = Vec::with_capacity(5 + 2 * n);
    objs.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
    objs.push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
    objs.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    objs.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec());
    objs.push(format!("<< /Title {} /Producer (Vigil) /CreationDate (D:{info_date}Z) >>", pdf_string(&encode(title))).into_bytes());
    for (i, content) in pages.iter().enumerate() {
        objs.push(
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {W} {H}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>", 7 + 2 * i)
                .into_bytes(),
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = z.write_all(content.as_bytes());
        let data = z.finish().unwrap_or_default();
        let mut o = format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", data.len()).into_bytes();
        o.extend_from_slice(&data);
        o.extend_from_slice(b"\nendstream");
        objs.push(o);
    }
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objs.len());
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n", objs.len() + 1).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_to_the_width_and_breaks_long_words() {
        let lines = wrap("the quick brown fox jumps over the lazy dog", Font::Regular, 10.0, 60.0);
        assert!(lines.len() > 2);
        assert!(lines.iter().all(|l| width(l, Font::Regular, 10.0) <= 60.0));
        let long = wrap(&"x".repeat(200), Font::Regular, 10.0, 50.0);
        assert!(long.len() >= 4 && long.iter().all(|l| width(l, Font::Regular, 10.0) <= 50.0));
    }

    #[test]
    fn a_very_long_word_is_cut_in_one_pass() {
        let lines = wrap(&"ab".repeat(200_000), Font::Regular, 7.0, 100.0);
        assert!(lines.len() > 1000);
        assert!(lines.iter().all(|l| !l.is_empty() && width(l, Font::Regular, 7.0) <= 100.0));
        assert_eq!(lines.iter().map(Vec::len).sum::<usize>(), 400_000);
    }

    #[test]
    fn a_table_cell_longer_than_a_page_runs_on_across_pages() {
        let long: String = (0..3000).map(|i| format!("word{i} ")).collect();
        let mut d = Doc::new("T");
        d.table(&["at", "comment"], vec![vec!["now".into(), long.clone()], vec!["later".into(), "short".into()]]);
        d.fields([("Label".to_string(), long)]);
        let mut w = Writer::new("T");
        for b in &d.blocks {
            w.block(b);
        }
        w.finish_page();
        assert!(w.pages.len() > 4, "{} pages", w.pages.len());
        // Every word is on some page, the last one included, and nothing is drawn below the margin.
        let all = w.pages.concat();
        assert!(all.contains("word2999") && all.contains("(short)"));
        for page in &w.pages {
            for line in page.lines().filter(|l| l.contains(" Td ")) {
                let y: f64 = line.split(" Td ").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
                assert!(y >= 20.0, "text at y {y}: {line}");
            }
        }
    }

    #[test]
    fn strings_are_escaped_and_encoded() {
        assert_eq!(pdf_string(&encode("a(b)\\c")), "(a\\(b\\)\\\\c)");
        assert_eq!(pdf_string(&encode("5 €, 6 ≥ 5")), "(5 \\200, 6 >= 5)");
    }

    #[test]
    fn the_cross_reference_table_points_at_each_object() {
        let mut d = Doc::new("T");
        d.para("hello");
        let pdf = render(&d, "20260101000000");
        // Offsets count bytes (the compressed streams are binary), so the checks work on bytes.
        let tail = pdf.windows(10).rposition(|w| w == b"startxref\n").unwrap() + 10;
        let start: usize = std::str::from_utf8(&pdf[tail..]).unwrap().lines().next().unwrap().parse().unwrap();
        assert!(pdf[start..].starts_with(b"xref"));
        let table = std::str::from_utf8(&pdf[start..tail]).unwrap();
        let mut objects = 0;
        for (i, line) in table.lines().skip(3).take_while(|l| l.ends_with(" n ")).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()), "object {}", i + 1);
            objects += 1;
        }
        assert_eq!(objects, 7, "catalog, pages, two fonts, info, one page and its content");
    }
}
