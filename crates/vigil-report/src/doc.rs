//! A report as a document: headings, paragraphs, labelled fields, tables and bar charts. Every
//! report is laid out once, here, and the HTML and PDF writers render the same document, so the
//! two never disagree; the JSON export is the report's own data, not this.

/// A rendered report's content.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub title: String,
    /// Lines under the title: what the report is, its scope, when it was made.
    pub subtitle: Vec<String>,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A numbered or named section.
    Heading(String),
    Subheading(String),
    Para(String),
    /// Label and value; an empty value is shown as still to be supplied.
    Fields(Vec<(String, String)>),
    /// Rows under a header; `more` rows were left out of the document (they are in the JSON).
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
        more: usize,
    },
    /// A horizontal bar chart.
    Bars {
        title: String,
        bars: Vec<(String, f64)>,
    },
    /// What the analyst must still supply before filing.
    Missing(Vec<String>),
}

/// What a document shows for a field nobody has supplied.
pub const TO_SUPPLY: &str = "(to be supplied)";

/// The most table rows a document shows; the JSON export keeps them all.
pub const MAX_ROWS: usize = 400;

impl Doc {
    pub fn new(title: impl Into<String>) -> Doc {
        Doc { title: title.into(), subtitle: Vec::new(), blocks: Vec::new() }
    }
    pub fn heading(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Heading(s.into()));
    }
    pub fn sub(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Subheading(s.into()));
    }
    pub fn para(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Para(s.into()));
    }
    pub fn fields<I: IntoIterator<Item = (S, String)>, S: Into<String>>(&mut self, f: I) {
        self.blocks.push(Block::Fields(f.into_iter().map(|(k, v)| (k.into(), v)).collect()));
    }
    /// A table of at most [`MAX_ROWS`] rows.
    pub fn table(&mut self, head: &[&str], mut rows: Vec<Vec<String>>) {
        let more = rows.len().saturating_sub(MAX_ROWS);
        rows.truncate(MAX_ROWS);
        self.blocks.push(Block::Table { head: head.iter().map(|s| s.to_string()).collect(), rows, more });
    }
    pub fn bars(&mut self, title: impl Into<String>, bars: Vec<(String, f64)>) {
        if !bars.is_empty() {
            self.blocks.push(Block::Bars { title: title.into(), bars });
        }
    }
}

/// An optional text as a field value (empty: to be supplied).
pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}
