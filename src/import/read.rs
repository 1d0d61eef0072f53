//! Reading OCDS releases from a file without holding it in memory: JSON lines are read
//! line by line, a release package is parsed by serde's streaming deserializer, which
//! hands over one element of `releases` at a time. A reader thread parses and sends
//! each release through a bounded channel, so a slow importer holds back the parser
//! instead of letting releases pile up in memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::model::Release;

/// Longest line of a JSON-lines file, and largest release of a package.
pub const MAX_RELEASE_BYTES: u64 = 16 * 1024 * 1024;
/// Most releases one file may hold (the file is streamed; this bounds a run, not memory).
pub const MAX_RELEASES_PER_FILE: u64 = 10_000_000;
/// Releases parsed ahead of the importer.
const CHANNEL_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One release per line.
    JsonLines,
    /// `{"releases": [...], ...}` or `{"records": [...], ...}`.
    Package,
    /// One release, the whole file (how many publishers serve a release per URL).
    Release,
}

/// A release as read: compiled (a whole process, mapped as it comes), or one release of
/// a process among others (merged per ocid once every input is read).
#[derive(Debug)]
pub enum Item {
    Compiled(Box<Release>),
    Part {
        ocid: String,
        date: Option<String>,
        release: Box<RawValue>,
    },
}

impl Item {
    pub fn ocid(&self) -> Option<&str> {
        match self {
            Item::Compiled(r) => r.ocid.as_deref(),
            Item::Part { ocid, .. } => Some(ocid),
        }
    }
}

/// What decides how a release is read: its ocid, date and tags.
#[derive(serde::Deserialize)]
struct Head {
    ocid: Option<String>,
    date: Option<String>,
    tag: Option<serde_json::Value>,
}

/// Whether a release with these tags is one of several releases of its process: tagged,
/// but not `compiled`.
fn is_part(tag: Option<&serde_json::Value>) -> bool {
    tag.is_some_and(|t| {
        let tags: Vec<&str> = match t {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            serde_json::Value::String(s) => vec![s.as_str()],
            _ => Vec::new(),
        };
        !tags.contains(&"compiled")
    })
}

/// A release's text as an `Item`, parsed once when it is a whole process (most are):
/// `item` when it is one of several releases, or does not read as a release.
fn item_text(text: &str) -> Result<Item, String> {
    match serde_json::from_str::<Release>(text) {
        Ok(r) if r.ocid.is_none() || !is_part(r.tag.as_ref()) => Ok(Item::Compiled(Box::new(r))),
        _ => RawValue::from_string(text.to_owned())
            .map_err(|e| e.to_string())
            .and_then(|raw| item(raw, false)),
    }
}

/// A release's text as an `Item`: a release tagged, but not `compiled`, is one of its
/// process's releases; anything else (a compiled release, a release without tags) is the
/// process as published.
fn item(raw: Box<RawValue>, compiled: bool) -> Result<Item, String> {
    let head: Head = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let tagged_part = !compiled && is_part(head.tag.as_ref());
    match (tagged_part, head.ocid) {
        (true, Some(ocid)) => Ok(Item::Part {
            ocid,
            date: head.date,
            release: raw,
        }),
        _ => serde_json::from_str::<Release>(raw.get())
            .map(|r| Item::Compiled(Box::new(r)))
            .map_err(|e| e.to_string()),
    }
}

/// What the reader thread sends.
#[derive(Debug)]
pub enum Record {
    /// The `n`-th record (from 1) and the release it holds.
    Release(u64, Item),
    /// A record that is not a release this import can read (skipped, reading goes on).
    Bad {
        record: u64,
        reason: &'static str,
        detail: String,
    },
    /// The file cannot be read further (reading stops; what came before stands).
    Fatal(String),
}

/// JSON lines when the first line is a whole JSON object with an `ocid` and no
/// `releases`; a release package otherwise (a pretty-printed package's first line is
/// `{`, which is not a whole object).
pub fn detect(path: &Path) -> std::io::Result<Format> {
    let mut first = Vec::new();
    BufReader::new(File::open(path)?)
        .take(MAX_RELEASE_BYTES)
        .read_until(b'\n', &mut first)?;
    if let Ok(obj) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&first) {
        if obj.contains_key("ocid") && !obj.contains_key("releases") {
            return Ok(Format::JsonLines);
        }
    }
    // A file no larger than one release may be one release, pretty-printed.
    if std::fs::metadata(path)?.len() <= MAX_RELEASE_BYTES {
        #[derive(serde::Deserialize)]
        struct Keys {
            ocid: Option<IgnoredAny>,
            releases: Option<IgnoredAny>,
            records: Option<IgnoredAny>,
        }
        let text = std::fs::read(path)?;
        if let Ok(k) = serde_json::from_slice::<Keys>(&text) {
            if k.ocid.is_some() && k.releases.is_none() && k.records.is_none() {
                return Ok(Format::Release);
            }
        }
    }
    Ok(Format::Package)
}

/// Starts the reader thread; `read` counts the bytes consumed (for the progress bar).
pub fn spawn(
    path: &Path,
    format: Format,
    read: Arc<AtomicU64>,
) -> std::io::Result<Receiver<Record>> {
    let file = File::open(path)?;
    let owned = path.to_path_buf();
    let (tx, rx) = sync_channel(CHANNEL_DEPTH);
    std::thread::Builder::new()
        .name("ocds-reader".to_owned())
        .spawn(move || {
            let element_start = Rc::new(Cell::new(None));
            match format {
                Format::Release => {
                    let msg = match std::fs::read_to_string(&owned) {
                        Err(e) => Record::Fatal(format!("reading: {e}")),
                        Ok(text) => {
                            read.fetch_add(
                                u64::try_from(text.len()).unwrap_or(u64::MAX),
                                Ordering::Relaxed,
                            );
                            match RawValue::from_string(text)
                                .map_err(|e| e.to_string())
                                .and_then(|raw| item(raw, false))
                            {
                                Ok(i) => Record::Release(1, i),
                                Err(e) => Record::Bad {
                                    record: 1,
                                    reason: "invalid_release",
                                    detail: e,
                                },
                            }
                        }
                    };
                    let _ = tx.send(msg);
                }
                Format::JsonLines => {
                    let counted = Counting {
                        inner: file,
                        read,
                        element_start,
                        position: 0,
                        reported: 0,
                    };
                    json_lines(BufReader::with_capacity(1 << 20, counted), &tx);
                }
                // Counted above the buffer: serde reads byte by byte from it, so the
                // element size limit counts exactly what the parser consumed.
                Format::Package => package(
                    Counting {
                        inner: BufReader::with_capacity(1 << 20, file),
                        read,
                        element_start,
                        position: 0,
                        reported: 0,
                    },
                    &tx,
                ),
            }
        })?;
    Ok(rx)
}

/// A reader that counts what it read and refuses to read more than
/// `MAX_RELEASE_BYTES` into one package element.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
    /// Position where the current package element started, if inside one.
    element_start: Rc<Cell<Option<u64>>>,
    position: u64,
    /// Part of `position` already added to `read`.
    reported: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.element_start.get() == Some(u64::MAX) {
            // Armed by `Limited`: the element starts about here.
            self.element_start.set(Some(self.position));
        }
        if let Some(start) = self.element_start.get() {
            if self.position.saturating_sub(start) >= MAX_RELEASE_BYTES {
                return Err(std::io::Error::other(format!(
                    "a release is larger than {MAX_RELEASE_BYTES} bytes"
                )));
            }
        }
        let n = self.inner.read(buf)?;
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        self.position = self.position.saturating_add(n64);
        // The parser reads byte by byte: publish the count now and then, not every byte.
        if self.position - self.reported >= 1 << 16 || n == 0 {
            self.read
                .fetch_add(self.position - self.reported, Ordering::Relaxed);
            self.reported = self.position;
        }
        Ok(n)
    }
}

impl<R> Drop for Counting<R> {
    fn drop(&mut self) {
        self.read
            .fetch_add(self.position - self.reported, Ordering::Relaxed);
    }
}

fn json_lines<R: BufRead>(input: R, tx: &SyncSender<Record>) {
    let mut reader = input;
    let mut line = Vec::new();
    let mut record = 0_u64;
    loop {
        line.clear();
        let n = match reader
            .by_ref()
            .take(MAX_RELEASE_BYTES + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Record::Fatal(format!("reading: {e}")));
                return;
            }
        };
        if n == 0 {
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        record += 1;
        if record > MAX_RELEASES_PER_FILE {
            let _ = tx.send(Record::Fatal(format!(
                "more than {MAX_RELEASES_PER_FILE} releases in one file"
            )));
            return;
        }
        let too_long = u64::try_from(line.len()).unwrap_or(u64::MAX) > MAX_RELEASE_BYTES;
        let msg = if too_long {
            // Skip the rest of the line without keeping it.
            loop {
                line.clear();
                match reader
                    .by_ref()
                    .take(MAX_RELEASE_BYTES)
                    .read_until(b'\n', &mut line)
                {
                    Ok(0) => break,
                    Ok(_) if line.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Record::Fatal(format!("reading: {e}")));
                        return;
                    }
                }
            }
            Record::Bad {
                record,
                reason: "release_too_large",
                detail: format!("longer than {MAX_RELEASE_BYTES} bytes"),
            }
        } else {
            match std::str::from_utf8(&line)
                .map_err(|e| e.to_string())
                .and_then(|t| item_text(t.trim()))
            {
                Ok(i) => Record::Release(record, i),
                Err(e) => Record::Bad {
                    record,
                    reason: "invalid_json",
                    detail: e,
                },
            }
        };
        if tx.send(msg).is_err() {
            return; // the importer stopped
        }
    }
}

fn package<R: Read>(input: Counting<R>, tx: &SyncSender<Record>) {
    let element_start = input.element_start.clone();
    let mut de = serde_json::Deserializer::from_reader(input);
    let visitor = PackageVisitor { tx, element_start };
    let result = serde::Deserializer::deserialize_map(&mut de, visitor).and_then(|n| {
        de.end()?;
        Ok(n)
    });
    if let Err(e) = result {
        if !e.to_string().contains(STOPPED) {
            let _ = tx.send(Record::Fatal(format!("the release package: {e}")));
        }
    }
}

const STOPPED: &str = "the importer stopped";

struct PackageVisitor<'a> {
    tx: &'a SyncSender<Record>,
    element_start: Rc<Cell<Option<u64>>>,
}

impl<'de> Visitor<'de> for PackageVisitor<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "an OCDS release or record package (an object with a releases or records array)",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut releases = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == "releases" || k == "records" {
                releases = Some(map.next_value_seed(Releases {
                    tx: self.tx,
                    element_start: self.element_start.clone(),
                    records: k == "records",
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        releases
            .ok_or_else(|| serde::de::Error::custom("the package has no releases or records array"))
    }
}

struct Releases<'a> {
    tx: &'a SyncSender<Record>,
    element_start: Rc<Cell<Option<u64>>>,
    /// A record package: each element is a record (`compiledRelease`, else `releases`).
    records: bool,
}

/// An OCDS record: its compiled release, else its releases (linked releases, with only a
/// `url`, cannot be read and are reported).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordOf {
    compiled_release: Option<Box<RawValue>>,
    releases: Option<Vec<Box<RawValue>>>,
}

/// The items of one record.
fn record_items(raw: &RawValue) -> Result<Vec<Item>, String> {
    let r: RecordOf = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    if let Some(c) = r.compiled_release {
        return Ok(vec![item(c, true)?]);
    }
    let mut out = Vec::new();
    for rel in r.releases.unwrap_or_default() {
        let i = item(rel, false)?;
        if let Item::Compiled(c) = &i {
            if c.tender.is_none()
                && c.awards.is_empty()
                && c.contracts.is_empty()
                && c.ocid.is_none()
            {
                return Err("a linked release (only its url): fetch the releases or use the compiled release".to_owned());
            }
        }
        out.push(i);
    }
    Ok(out)
}

impl<'de> DeserializeSeed<'de> for Releases<'_> {
    type Value = u64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Releases<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of releases")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut record = 0_u64;
        loop {
            // The size limit counts from here (the reader may have buffered a little of
            // the element already: the limit is approximate by at most its buffer).
            self.element_start.set(None);
            record += 1;
            if record > MAX_RELEASES_PER_FILE {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_RELEASES_PER_FILE} releases in one file"
                )));
            }
            let raw = seq.next_element_seed(Limited {
                element_start: self.element_start.clone(),
            })?;
            self.element_start.set(None);
            let Some(raw) = raw else {
                return Ok(record - 1);
            };
            // Parsed from its own text, so a release that does not fit is skipped alone.
            let items = if self.records {
                record_items(&raw)
            } else {
                item_text(raw.get()).map(|i| vec![i])
            };
            let msgs = match items {
                Ok(items) => items
                    .into_iter()
                    .map(|i| Record::Release(record, i))
                    .collect(),
                Err(e) => vec![Record::Bad {
                    record,
                    reason: "invalid_release",
                    detail: e,
                }],
            };
            for msg in msgs {
                if self.tx.send(msg).is_err() {
                    return Err(serde::de::Error::custom(STOPPED));
                }
            }
        }
    }
}

/// One element as raw text, with the reader's size limit armed while it is read.
struct Limited {
    element_start: Rc<Cell<Option<u64>>>,
}

impl<'de> DeserializeSeed<'de> for Limited {
    type Value = Box<RawValue>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Box<RawValue>, D::Error> {
        // Arm with "now": the counting reader measures from its own position, which it
        // records when it first sees the armed state.
        self.element_start.set(Some(u64::MAX));
        serde::Deserialize::deserialize(d)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile_path::Path {
        tempfile_path::Path::with(text)
    }

    mod tempfile_path {
        pub struct Path(pub std::path::PathBuf);
        impl Path {
            pub fn with(text: &str) -> Self {
                let p = std::env::temp_dir().join(format!("ocds-read-{}", uuid::Uuid::new_v4()));
                std::fs::write(&p, text).unwrap();
                Self(p)
            }
        }
        impl Drop for Path {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn read_all(text: &str) -> (Format, Vec<Record>, u64) {
        let f = file(text);
        let format = detect(&f.0).unwrap();
        let bytes = Arc::new(AtomicU64::new(0));
        let rx = spawn(&f.0, format, bytes.clone()).unwrap();
        let records: Vec<Record> = rx.iter().collect();
        (format, records, bytes.load(Ordering::Relaxed))
    }

    fn ocids(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                Record::Release(n, r) => {
                    let ocid = r.ocid().unwrap_or_default().to_owned();
                    format!("{n}:{}", &ocid[..ocid.len().min(20)])
                }
                Record::Bad { record, reason, .. } => format!("{record}:{reason}"),
                Record::Fatal(why) => format!("fatal:{}", &why[..why.len().min(200)]),
            })
            .collect()
    }

    #[test]
    fn json_lines_are_read_line_by_line() {
        let text = "{\"ocid\": \"a\"}\n\n{\"ocid\": \"b\", \"awards\": \"x\"}\nnot json\n{\"ocid\": \"c\"}";
        let (format, records, bytes) = read_all(text);
        assert_eq!(format, Format::JsonLines);
        assert_eq!(
            ocids(&records),
            ["1:a", "2:invalid_json", "3:invalid_json", "4:c"]
        );
        assert_eq!(bytes, u64::try_from(text.len()).unwrap());
    }

    #[test]
    fn a_package_is_streamed_element_by_element() {
        let text = r#"{
  "uri": "u", "version": "1.1",
  "releases": [
    {"ocid": "a", "tender": {"value": {"amount": 1.10, "currency": "EUR"}}},
    {"ocid": "b", "contracts": {"not": "a list"}},
    {"ocid": "c"}
  ],
  "publisher": {"name": "p"}
}"#;
        let (format, records, _) = read_all(text);
        assert_eq!(format, Format::Package);
        assert_eq!(ocids(&records), ["1:a", "2:invalid_release", "3:c"]);
        // The amount's own digits, not a float's.
        let Record::Release(_, Item::Compiled(r)) = &records[0] else {
            panic!()
        };
        let amount = r
            .tender
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .amount
            .as_ref();
        assert_eq!(amount.unwrap().get(), "1.10");
        // A one-line package is a package too.
        let (format, records, _) = read_all(r#"{"releases": [{"ocid": "a"}], "uri": "u"}"#);
        assert_eq!(format, Format::Package);
        assert_eq!(ocids(&records), ["1:a"]);
    }

    #[test]
    fn a_broken_package_stops_after_what_it_read() {
        let (_, records, _) = read_all(r#"{"releases": [{"ocid": "a"}, {"ocid": "#);
        let got = ocids(&records);
        assert_eq!(got[0], "1:a");
        assert!(got[1].starts_with("fatal:the release package"), "{got:?}");
        let (_, records, _) = read_all(r#"{"uri": "u"}"#);
        assert!(ocids(&records)[0].contains("no releases or records array"));
    }

    #[test]
    fn a_release_larger_than_the_limit_is_refused() {
        let big = "x".repeat(usize::try_from(MAX_RELEASE_BYTES).unwrap() + 10);
        // JSON lines: that line is skipped, the next one read.
        let (_, records, _) = read_all(&format!(
            "{{\"ocid\": \"a\"}}\n{{\"ocid\": \"{big}\"}}\n{{\"ocid\": \"c\"}}\n"
        ));
        assert_eq!(ocids(&records), ["1:a", "2:release_too_large", "3:c"]);
        // A package: reading stops there.
        let (_, records, _) = read_all(&format!(
            "{{\"releases\": [{{\"ocid\": \"a\"}}, {{\"ocid\": \"{big}\"}}, {{\"ocid\": \"c\"}}]}}"
        ));
        let got = ocids(&records);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[1].contains("larger than"), "{got:?}");
    }
}
