//! A document as one self-contained HTML page: styles inline, charts as inline SVG, no scripts,
//! fonts or images fetched from anywhere (it opens on an air-gapped desk and prints cleanly).

use crate::doc::{Block, Doc, TO_SUPPLY};
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;font-size:13px;color:#1b1f24;max-width:1100px;margin:24px auto;padding:0 16px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #1b1f24;padding-bottom:3px;margin-top:28px}\
h3{font-size:14px;margin:18px 0 6px}.sub{color:#57606a;margin:2px 0}p{line-height:1.45}\
table{border-collapse:collapse;width:100%;margin:6px 0 10px}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f0f3f6}table.fields th{width:30%;font-weight:600}.missing{color:#9a6700;font-style:italic}\
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px}.more{color:#57606a;font-style:italic}\
svg text{font-family:Helvetica,Arial,sans-serif;font-size:11px}@media print{body{margin:0}}";

/// Renders a document as a whole HTML page.
pub fn render(doc: &Doc) -> String {
    let mut o = String::with_capacity(16 << 10);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&doc.title),
        esc(&doc.title)
    );
    for s in &doc.subtitle {
        let _ = writeln!(o, "<p class=\"sub\">{}</p>", esc(s));
    }
    for b in &doc.blocks {
        block(&mut o, b);
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn block(o: &mut String, b: &Block) {
    match b {
        Block::Heading(s) => {
            let _ = writeln!(o, "<h2>{}</h2>", esc(s));
        }
        Block::Subheading(s) => {
            let _ = writeln!(o, "<h3>{}</h3>", esc(s));
        }
        Block::Para(s) => {
            for p in s.split("\n\n") {
                let _ = writeln!(o, "<p>{}</p>", esc(p).replace('\n', "<br>"));
            }
        }
        Block::Fields(f) => {
            o.push_str("<table class=\"fields\">\n");
            for (k, v) in f {
                if v.is_empty() {
                    let _ = writeln!(o, "<tr><th>{}</th><td class=\"missing\">{TO_SUPPLY}</td></tr>", esc(k));
                } else {
                    let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
                }
            }
            o.push_str("</table>\n");
        }
        Block::Table { head, rows, more } => {
            if rows.is_empty() {
                o.push_str("<p class=\"more\">None.</p>\n");
                return;
            }
            o.push_str("<table>\n<tr>");
            for h in head {
                let _ = write!(o, "<th>{}</th>", esc(h));
            }
            o.push_str("</tr>\n");
            for r in rows {
                o.push_str("<tr>");
                for c in r {
                    let _ = write!(o, "<td>{}</td>", esc(c));
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</table>\n");
            if *more > 0 {
                let _ = writeln!(o, "<p class=\"more\">{more} more rows in the JSON export.</p>");
            }
        }
        Block::Bars { title, bars } => svg_bars(o, title, bars),
        Block::Missing(m) => {
            if m.is_empty() {
                o.push_str("<p>Nothing is missing: the report is complete.</p>\n");
                return;
            }
            o.push_str("<div class=\"warn\"><strong>Still to be supplied before filing:</strong>\n<ul>\n");
            for x in m {
                let _ = writeln!(o, "<li>{}</li>", esc(x));
            }
            o.push_str("</ul>\n</div>\n");
        }
    }
}

fn svg_bars(o: &mut String, title: &str, bars: &[(String, f64)]) {
    let label_w = 220.0;
    let bar_w = 560.0;
    let row = 18.0;
    let h = 24.0 + row * bars.len() as f64;
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    let _ = writeln!(o, "<h3>{}</h3>", esc(title));
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        label_w + bar_w + 80.0,
        esc(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 8.0 + row * i as f64;
        let w = (v / max * bar_w).max(if *v > 0.0 { 1.0 } else { 0.0 });
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"#3b6ea8\"/><text x=\"{}\" y=\"{}\">{}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(label),
            row - 5.0,
            label_w + w + 5.0,
            y + 12.0,
            crate::num(*v)
        );
    }
    o.push_str("</svg>\n");
}
