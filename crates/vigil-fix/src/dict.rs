//! FIX data dictionaries in QuickFIX's XML form (`spec/FIX42.xml`, `FIX44.xml`): every field's tag,
//! name, type and allowed values; the header, the trailer and each message type's fields and
//! repeating groups, with components expanded in place. The acceptor validates what it receives
//! against them: required fields, fields defined for the message type, enumerated values, data
//! formats, group counts.

use rustc_hash::FxHashMap as HashMap;

/// A field's data type, as far as validation needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    Int,
    /// INT-like counts and lengths: LENGTH, NUMINGROUP, SEQNUM, DAYOFMONTH.
    Count,
    Float,
    Char,
    Boolean,
    UtcTimestamp,
    UtcTimeOnly,
    UtcDate,
    LocalMktDate,
    MonthYear,
    Data,
    String,
    /// Space-separated values, each from the field's enumeration (MULTIPLEVALUESTRING and kin).
    MultipleValue,
}

impl FieldType {
    fn parse(s: &str) -> FieldType {
        match s {
            "INT" => FieldType::Int,
            "LENGTH" | "NUMINGROUP" | "SEQNUM" | "DAYOFMONTH" => FieldType::Count,
            "FLOAT" | "PRICE" | "QTY" | "AMT" | "PERCENTAGE" | "PRICEOFFSET" => FieldType::Float,
            "CHAR" => FieldType::Char,
            "BOOLEAN" => FieldType::Boolean,
            "UTCTIMESTAMP" | "TIME" => FieldType::UtcTimestamp,
            "UTCTIMEONLY" => FieldType::UtcTimeOnly,
            "UTCDATE" | "UTCDATEONLY" | "DATE" => FieldType::UtcDate,
            "LOCALMKTDATE" => FieldType::LocalMktDate,
            "MONTHYEAR" => FieldType::MonthYear,
            "DATA" => FieldType::Data,
            "MULTIPLEVALUESTRING" | "MULTIPLECHARVALUE" | "MULTIPLESTRINGVALUE" => FieldType::MultipleValue,
            _ => FieldType::String,
        }
    }

    /// Whether `v` is a well-formed value of this type (FIX's formats).
    pub fn accepts(self, v: &[u8]) -> bool {
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        let signed = |s: &[u8]| digits(s.strip_prefix(b"-").unwrap_or(s));
        match self {
            FieldType::Int => signed(v),
            FieldType::Count => digits(v),
            FieldType::Float => {
                let s = v.strip_prefix(b"-").unwrap_or(v);
                let mut parts = s.splitn(2, |&b| b == b'.');
                let int = parts.next().unwrap_or(b"");
                match parts.next() {
                    Some(frac) => (digits(int) || int.is_empty()) && (digits(frac) || frac.is_empty()) && !(int.is_empty() && frac.is_empty()),
                    None => digits(int),
                }
            }
            FieldType::Char => v.len() == 1,
            FieldType::Boolean => v == b"Y" || v == b"N",
            FieldType::UtcTimestamp => timestamp(v),
            FieldType::UtcTimeOnly => time_of_day(v),
            FieldType::UtcDate | FieldType::LocalMktDate => date(v),
            // YYYYMM, then nothing, a day DD, or a week w1-w5.
            FieldType::MonthYear => {
                v.len() >= 6 && digits(&v[..6]) && (1..=12).contains(&((v[4] - b'0') * 10 + (v[5] - b'0'))) && {
                    match &v[6..] {
                        [] => true,
                        [b'w', w] => (b'1'..=b'5').contains(w),
                        [a, b] => a.is_ascii_digit() && b.is_ascii_digit() && (1..=31).contains(&((a - b'0') * 10 + (b - b'0'))),
                        _ => false,
                    }
                }
            }
            FieldType::Data | FieldType::String | FieldType::MultipleValue => !v.is_empty(),
        }
    }
}

fn date(v: &[u8]) -> bool {
    v.len() == 8 && v.iter().all(u8::is_ascii_digit) && {
        let m = (v[4] - b'0') * 10 + (v[5] - b'0');
        let d = (v[6] - b'0') * 10 + (v[7] - b'0');
        (1..=12).contains(&m) && (1..=31).contains(&d)
    }
}

/// `HH:MM:SS` or `HH:MM:SS.sss` (to nanoseconds).
fn time_of_day(v: &[u8]) -> bool {
    if v.len() < 8 || v[2] != b':' || v[5] != b':' {
        return false;
    }
    let two = |i: usize| v[i].is_ascii_digit() && v[i + 1].is_ascii_digit();
    if !(two(0) && two(3) && two(6)) {
        return false;
    }
    let (h, m, s) = ((v[0] - b'0') * 10 + (v[1] - b'0'), (v[3] - b'0') * 10 + (v[4] - b'0'), (v[6] - b'0') * 10 + (v[7] - b'0'));
    if h > 23 || m > 59 || s > 60 {
        return false;
    }
    match &v[8..] {
        [] => true,
        [b'.', rest @ ..] => !rest.is_empty() && rest.len() <= 9 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// `YYYYMMDD-HH:MM:SS[.sss]`.
fn timestamp(v: &[u8]) -> bool {
    v.len() >= 17 && date(&v[..8]) && v[8] == b'-' && time_of_day(&v[9..])
}

/// One field definition.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDef {
    pub tag: u32,
    pub name: String,
    pub kind: FieldType,
    /// The allowed values, where the dictionary enumerates them.
    pub values: Option<Vec<String>>,
}

/// A field or a repeating group in a layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    Field {
        tag: u32,
        required: bool,
    },
    /// A group: its NumInGroup tag, and the layout of one entry (whose first field starts each entry).
    Group {
        count: u32,
        required: bool,
        entry: Layout,
    },
}

/// The fields of a header, trailer, message or group entry, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    pub members: Vec<Member>,
}

impl Layout {
    /// Whether `tag` is a field of this layout (not of its groups' entries).
    pub fn has(&self, tag: u32) -> bool {
        self.members.iter().any(|m| match m {
            Member::Field { tag: t, .. } => *t == tag,
            Member::Group { count, .. } => *count == tag,
        })
    }
    /// The group whose NumInGroup tag is `tag`.
    pub fn group(&self, tag: u32) -> Option<&Layout> {
        self.members.iter().find_map(|m| match m {
            Member::Group { count, entry, .. } if *count == tag => Some(entry),
            _ => None,
        })
    }
    /// The first tag of an entry: the delimiter that starts each one.
    pub fn first(&self) -> Option<u32> {
        self.members.first().map(|m| match m {
            Member::Field { tag, .. } => *tag,
            Member::Group { count, .. } => *count,
        })
    }
    /// Required fields and groups, in order.
    pub fn required(&self) -> impl Iterator<Item = u32> + '_ {
        self.members.iter().filter_map(|m| match m {
            Member::Field { tag, required: true } | Member::Group { count: tag, required: true, .. } => Some(*tag),
            _ => None,
        })
    }
}

/// A message type.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageDef {
    pub name: String,
    pub msg_type: String,
    /// `admin` (session level) or `app`.
    pub admin: bool,
    pub body: Layout,
}

/// A whole dictionary.
#[derive(Clone, Debug, Default)]
pub struct Dictionary {
    /// `FIX.4.2`, `FIX.4.4`.
    pub begin_string: String,
    pub fields: HashMap<u32, FieldDef>,
    pub header: Layout,
    pub trailer: Layout,
    pub messages: HashMap<String, MessageDef>,
}

/// One XML element as the dictionaries use them: a name, attributes, children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// The dictionaries' XML: elements with quoted attributes, no text content; comments and the
/// `<?xml …?>` declaration skipped.
fn parse_xml(text: &str) -> Result<Node, String> {
    let mut stack: Vec<Node> = vec![Node { name: "#root".into(), ..Default::default() }];
    let mut i = 0;
    while let Some(lt) = text[i..].find('<').map(|x| x + i) {
        let line = || text[..lt].matches('\n').count() + 1;
        if text[lt..].starts_with("<!--") {
            i = text[lt..].find("-->").map(|x| lt + x + 3).ok_or_else(|| format!("line {}: a comment that never ends", line()))?;
            continue;
        }
        let gt = text[lt..].find('>').map(|x| lt + x).ok_or_else(|| format!("line {}: a tag that never ends", line()))?;
        let inner = &text[lt + 1..gt];
        i = gt + 1;
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        if let Some(name) = inner.strip_prefix('/') {
            let node = stack.pop().ok_or_else(|| format!("line {}: </{name}> closes nothing", line()))?;
            if node.name != name.trim() {
                return Err(format!("line {}: </{}> closes <{}>", line(), name.trim(), node.name));
            }
            stack.last_mut().ok_or_else(|| format!("line {}: </{name}> closes the document", line()))?.children.push(node);
            continue;
        }
        let selfclose = inner.ends_with('/');
        let inner = inner.trim_end_matches('/');
        let mut parts = inner.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or("").to_string();
        let mut attrs = Vec::new();
        let rest = parts.next().unwrap_or("");
        let rb = rest.as_bytes();
        let mut j = 0;
        while j < rb.len() {
            while j < rb.len() && rb[j].is_ascii_whitespace() {
                j += 1;
            }
            if j >= rb.len() {
                break;
            }
            let eq = rest[j..].find('=').map(|x| x + j).ok_or_else(|| format!("line {}: attribute without '=' in <{name}>", line()))?;
            let key = rest[j..eq].trim().to_string();
            let q = *rb.get(eq + 1).ok_or_else(|| format!("line {}: attribute {key} has no value", line()))?;
            if q != b'\'' && q != b'"' {
                return Err(format!("line {}: attribute {key} is not quoted", line()));
            }
            let end = rest[eq + 2..].find(q as char).map(|x| x + eq + 2).ok_or_else(|| format!("line {}: attribute {key} never ends", line()))?;
            let value = rest[eq + 2..end].replace("&apos;", "'").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            attrs.push((key, value));
            j = end + 1;
        }
        let node = Node { name, attrs, children: Vec::new() };
        if selfclose {
            stack.last_mut().ok_or("no parent")?.children.push(node);
        } else {
            stack.push(node);
        }
    }
    if stack.len() != 1 {
        return Err(format!("<{}> is never closed", stack.last().map_or("", |n| n.name.as_str())));
    }
    stack.pop().and_then(|mut r| r.children.pop()).ok_or_else(|| "an empty document".into())
}

impl FieldDef {
    /// Whether `v` is one of the enumerated values (each space-separated one, for a multiple
    /// value field); every value is, where the dictionary enumerates none.
    pub fn allows(&self, v: &[u8]) -> bool {
        let Some(values) = &self.values else { return true };
        let one = |x: &[u8]| values.iter().any(|e| e.as_bytes() == x);
        match self.kind {
            FieldType::MultipleValue => v.split(|&b| b == b' ').filter(|x| !x.is_empty()).all(one),
            _ => one(v),
        }
    }
}

impl Dictionary {
    /// Reads a dictionary file.
    pub fn load(path: &str) -> Result<Dictionary, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Dictionary::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Dictionary, String> {
        let root = parse_xml(text)?;
        if root.name != "fix" {
            return Err(format!("the root is <{}>, not <fix>", root.name));
        }
        let major = root.attr("major").unwrap_or("4");
        let minor = root.attr("minor").unwrap_or("0");
        let mut d = Dictionary { begin_string: format!("FIX.{major}.{minor}"), ..Default::default() };
        let mut by_name: HashMap<String, u32> = HashMap::default();
        for f in root.child("fields").map_or(&[][..], |n| &n.children) {
            let tag: u32 = f.attr("number").and_then(|n| n.parse().ok()).ok_or_else(|| format!("field {:?} has no number", f.attr("name")))?;
            let name = f.attr("name").unwrap_or("").to_string();
            let values: Vec<String> = f.children.iter().filter(|c| c.name == "value").filter_map(|c| c.attr("enum").map(str::to_string)).collect();
            by_name.insert(name.clone(), tag);
            d.fields.insert(
                tag,
                FieldDef { tag, name, kind: FieldType::parse(f.attr("type").unwrap_or("STRING")), values: (!values.is_empty()).then_some(values) },
            );
        }
        let components: HashMap<&str, &Node> =
            root.child("components").map_or(&[][..], |n| &n.children).iter().filter_map(|c| c.attr("name").map(|n| (n, c))).collect();
        let layout = |n: &Node| build(n, &by_name, &components, true, 0);
        d.header = layout(root.child("header").ok_or("no <header>")?)?;
        d.trailer = layout(root.child("trailer").ok_or("no <trailer>")?)?;
        for m in root.child("messages").map_or(&[][..], |n| &n.children) {
            let msg_type = m.attr("msgtype").ok_or("a message without msgtype")?.to_string();
            d.messages.insert(
                msg_type.clone(),
                MessageDef { name: m.attr("name").unwrap_or("").to_string(), msg_type, admin: m.attr("msgcat") == Some("admin"), body: layout(m)? },
            );
        }
        Ok(d)
    }

    /// QuickFIX's FIX 4.2 or 4.4 dictionary, built into the binary (`spec/`, under the QuickFIX
    /// Software License in `spec/LICENSE-QuickFIX`).
    pub fn builtin(begin_string: &str) -> Option<Dictionary> {
        let text = match begin_string {
            "FIX.4.2" => include_str!("../spec/FIX42.xml"),
            "FIX.4.4" => include_str!("../spec/FIX44.xml"),
            _ => return None,
        };
        Dictionary::parse(text).ok()
    }

    pub fn field(&self, tag: u32) -> Option<&FieldDef> {
        self.fields.get(&tag)
    }
}

/// A layout from an element's children; a component's members are taken in place (required
/// only when the component is). A group entry's required fields are required in every entry the
/// message carries, whether the group itself is required or not (stricter than QuickFIX, which
/// checks them only in required groups).
fn build(n: &Node, by_name: &HashMap<String, u32>, components: &HashMap<&str, &Node>, required: bool, depth: usize) -> Result<Layout, String> {
    if depth > 32 {
        return Err(format!("components nest deeper than 32 at {:?}", n.attr("name")));
    }
    let mut l = Layout::default();
    for c in &n.children {
        let name = c.attr("name").unwrap_or("");
        let req = required && c.attr("required") == Some("Y");
        match c.name.as_str() {
            "field" => {
                let tag = *by_name.get(name).ok_or_else(|| format!("{name} is used but not defined in <fields>"))?;
                l.members.push(Member::Field { tag, required: req });
            }
            "group" => {
                let count = *by_name.get(name).ok_or_else(|| format!("group {name} is not defined in <fields>"))?;
                l.members.push(Member::Group { count, required: req, entry: build(c, by_name, components, true, depth + 1)? });
            }
            "component" => {
                let comp = components.get(name).ok_or_else(|| format!("component {name} is not defined"))?;
                let inner = build(comp, by_name, components, req, depth + 1)?;
                l.members.extend(inner.members);
            }
            _ => {}
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: &str) -> Option<Dictionary> {
        let dir = std::env::var("VIGIL_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
        let p = dir.join("fix-acceptance/spec").join(format!("{v}.xml"));
        Some(Dictionary::load(p.to_str()?).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn the_acceptance_suites_dictionaries_load_with_their_messages_and_groups() {
        for (v, begin, messages) in [("FIX42", "FIX.4.2", 46), ("FIX44", "FIX.4.4", 93)] {
            let d = spec(v).expect("shared/data");
            assert_eq!(d.begin_string, begin);
            assert!(d.messages.len() >= messages, "{v}: {} messages", d.messages.len());
            let nos = &d.messages["D"];
            assert_eq!(nos.name, "NewOrderSingle");
            assert!(!nos.admin && d.messages["A"].admin);
            // ClOrdID, Side, TransactTime, OrdType are required in a NewOrderSingle; Symbol on 4.2
            // (on 4.4 it comes in the Instrument component, whose fields are all optional).
            let required: Vec<u32> = nos.body.required().collect();
            for tag in [11, 54, 60, 40] {
                assert!(required.contains(&tag), "{v}: {tag} not required in D: {required:?}");
            }
            assert_eq!(required.contains(&55), v == "FIX42", "{v}: Symbol");
            assert!(!required.contains(&44), "{v}: Price is optional");
            let header: Vec<u32> = d.header.required().collect();
            assert_eq!(header, [8, 9, 35, 49, 56, 34, 52], "{v}");
            assert_eq!(d.field(54).unwrap().values.as_ref().unwrap()[0], "1");
            assert_eq!(d.field(44).unwrap().kind, FieldType::Float);
            // A repeating group with its delimiter.
            let hops = d.header.group(627);
            if v == "FIX44" {
                assert_eq!(hops.and_then(Layout::first), Some(628));
            }
        }
    }

    #[test]
    fn the_built_in_dictionaries_are_the_suites() {
        for (v, begin) in [("FIX42", "FIX.4.2"), ("FIX44", "FIX.4.4")] {
            let built = Dictionary::builtin(begin).expect("built in");
            let shared = spec(v).expect("shared/data");
            assert_eq!(built.begin_string, begin);
            assert_eq!((built.fields.len(), built.messages.len(), &built.header), (shared.fields.len(), shared.messages.len(), &shared.header));
        }
        assert!(Dictionary::builtin("FIX.4.0").is_none());
    }

    #[test]
    fn values_are_checked_against_their_types() {
        assert!(FieldType::Int.accepts(b"-12") && !FieldType::Int.accepts(b"1.5") && !FieldType::Int.accepts(b""));
        assert!(
            FieldType::Float.accepts(b"100.25") && FieldType::Float.accepts(b"-.5") && FieldType::Float.accepts(b"3.") && !FieldType::Float.accepts(b"1e5")
        );
        assert!(FieldType::UtcTimestamp.accepts(b"20260105-14:00:00") && FieldType::UtcTimestamp.accepts(b"20260105-14:00:00.123"));
        assert!(!FieldType::UtcTimestamp.accepts(b"20261305-14:00:00") && !FieldType::UtcTimestamp.accepts(b"20260105-25:00:00"));
        assert!(FieldType::Boolean.accepts(b"Y") && !FieldType::Boolean.accepts(b"y"));
        assert!(FieldType::Char.accepts(b"1") && !FieldType::Char.accepts(b"12"));
        assert!(FieldType::MonthYear.accepts(b"202601") && FieldType::MonthYear.accepts(b"20260115") && FieldType::MonthYear.accepts(b"202601w2"));
        assert!(!FieldType::MonthYear.accepts(b"202613") && !FieldType::MonthYear.accepts(b"202601xyz") && !FieldType::MonthYear.accepts(b"202601w9"));
        let exec_inst = FieldDef { tag: 18, name: "ExecInst".into(), kind: FieldType::MultipleValue, values: Some(vec!["1".into(), "2".into(), "G".into()]) };
        assert!(exec_inst.allows(b"1 2") && exec_inst.allows(b"G") && !exec_inst.allows(b"1 Z"));
    }

    #[test]
    fn broken_xml_is_refused_with_its_line() {
        let e = Dictionary::parse("<fix major='4' minor='4'>\n<header>\n</fix>").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        let e = Dictionary::parse("<fix major='4' minor='4'><header><field name='Nope' required='Y'/></header><trailer/></fix>").unwrap_err();
        assert!(e.contains("Nope"), "{e}");
    }
}
